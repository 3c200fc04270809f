package handlers

import "testing"

func TestDuplicateKey(t *testing.T) {
	cases := map[string]string{
		`{}`: "",
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`: "",
		`{"a":1,"a":2}`:                 "a",
		`{"a":{"b":[1,{"c":1,"c":2}]}}`: "c",
		`{"cluster":{"metadata":{"name":"a","namespace":"n","name":"b"}}}`: "name",
		`{"a":[],"b":{},"a":null}`: "a",
		`{"a":"a","b":"b"}`:        "",
		`[{"x":1},{"x":1}]`:        "",
		`{"k":{"k":{"k":1}}}`:      "",
	}
	for body, want := range cases {
		if got := duplicateKey([]byte(body)); got != want {
			t.Errorf("duplicateKey(%s) = %q, want %q", body, got, want)
		}
	}
}
