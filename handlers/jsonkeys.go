package handlers

import (
	"bytes"
	"encoding/json"
	"io"
)

// duplicateKey returns a key that appears twice in one JSON object of body,
// or "". encoding/json keeps the last of duplicated keys, so a request such
// as {"cluster":{"metadata":{"name":"a","name":"b"}}} would name a cluster
// that other readers of the same bytes do not see; such requests are refused.
// body must be valid JSON.
func duplicateKey(body []byte) string {
	type object struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*object // nil entries are arrays
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1] != nil {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return ""
		}
		top := (*object)(nil)
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if top != nil {
					top.expectKey = false
				}
				stack = append(stack, &object{keys: map[string]bool{}, expectKey: true})
			case '[':
				if top != nil {
					top.expectKey = false
				}
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
				valueDone()
			}
		case string:
			if top != nil && top.expectKey {
				if top.keys[t] {
					return t
				}
				top.keys[t] = true
				top.expectKey = false
				continue
			}
			valueDone()
		default:
			valueDone()
		}
	}
}
