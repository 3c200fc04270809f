package settings

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// settingsDoc is the page that lists every setting with its default.
const settingsDoc = "../docs/settings.md"

// documented is one row of a settings table: the variable and its default.
type documented struct {
	variable, defaultCell string
	line                  int
}

// setting is one environment variable that Load reads, as its env tag
// names it, with the tag's default ("" for none).
type setting struct{ variable, def string }

// settingsOf lists the variables envconfig reads into a struct of type t:
// each field with an env tag, after the prefix.
func settingsOf(t reflect.Type) []setting {
	var out []setting
	for f := range t.Fields() {
		key, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if key == "" {
			continue
		}
		_, def, _ := strings.Cut(opts, "default=")
		out = append(out, setting{Prefix + "_" + key, def})
	}
	return out
}

// documentedSettings reads the rows of the Markdown tables of doc whose
// first cell is one `KONNECTOR_...` variable.
func documentedSettings(doc string) []documented {
	var out []documented
	for i, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			continue
		}
		name := strings.TrimSpace(cells[0])
		if !strings.HasPrefix(name, "`"+Prefix+"_") || !strings.HasSuffix(name, "`") || strings.Count(name, "`") != 2 {
			continue
		}
		out = append(out, documented{strings.Trim(name, "`"), strings.TrimSpace(cells[1]), i + 1})
	}
	return out
}

// checkSettingsDoc says what doc gets wrong about settings: a setting
// without its row, a row whose default cell does not give the default
// (`value`, or a cell that starts with "empty" for a setting without one),
// a row for a variable that is not a setting, and a setting with two rows.
func checkSettingsDoc(settings []setting, doc string) []string {
	rows := documentedSettings(doc)
	var problems []string
	for _, s := range settings {
		i := slices.IndexFunc(rows, func(r documented) bool { return r.variable == s.variable })
		if i < 0 {
			problems = append(problems, s.variable+": no row in the settings table")
			continue
		}
		cell := rows[i].defaultCell
		switch {
		case s.def == "" && !strings.HasPrefix(cell, "empty"):
			problems = append(problems, s.variable+": has no default, but its default cell says "+cell+" (want a cell starting with \"empty\")")
		case s.def != "" && !strings.Contains(cell, "`"+s.def+"`"):
			problems = append(problems, s.variable+": default `"+s.def+"`, but its default cell says "+cell)
		}
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if !slices.ContainsFunc(settings, func(s setting) bool { return s.variable == r.variable }) {
			problems = append(problems, r.variable+": documented, but not a setting of package settings")
		}
		if seen[r.variable] {
			problems = append(problems, r.variable+": documented twice")
		}
		seen[r.variable] = true
	}
	return problems
}

func TestSettingsDoc_ListsEverySettingWithItsDefault(t *testing.T) {
	doc, err := os.ReadFile(settingsDoc)
	if err != nil {
		t.Fatal(err)
	}
	settings := settingsOf(reflect.TypeFor[Settings]())
	if len(settings) < 20 {
		t.Fatalf("found only %d settings in the Settings struct: %v", len(settings), settings)
	}
	for _, problem := range checkSettingsDoc(settings, string(doc)) {
		t.Errorf("%s: %s", settingsDoc, problem)
	}
}

func TestSettingsDoc_CheckFindsMissingWrongAndUnknownSettings(t *testing.T) {
	type fixture struct {
		Repository string `env:"REPOSITORY, default=https://example.com/"`
		Batch      int    `env:"BATCH, default=10"`
		Values     string `env:"VALUES"`
		Missing    bool   `env:"MISSING"`
		Parsed     map[string]string
	}
	settings := settingsOf(reflect.TypeFor[fixture]())
	want := []setting{{"KONNECTOR_REPOSITORY", "https://example.com/"}, {"KONNECTOR_BATCH", "10"}, {"KONNECTOR_VALUES", ""}, {"KONNECTOR_MISSING", ""}}
	if !slices.Equal(settings, want) {
		t.Fatalf("settings = %v, want %v", settings, want)
	}
	doc := strings.Join([]string{
		"| variable | default | meaning |",
		"|---|---|---|",
		"| `KONNECTOR_REPOSITORY` | `https://example.com/` | where |",
		"| `KONNECTOR_BATCH` | `100` | how many |",
		"| `KONNECTOR_VALUES` | none | a file |",
		"| `KONNECTOR_GONE` | `x` | removed from the code |",
		"| `KONNECTOR_REPOSITORY` | `https://example.com/` | again |",
		"",
		"`KONNECTOR_MISSING` mentioned in prose only, and in a row that is not its own:",
		"| `KONNECTOR_MISSING`, `KONNECTOR_BATCH` | empty | two at once |",
	}, "\n")
	got := checkSettingsDoc(settings, doc)
	wantProblems := []string{
		"KONNECTOR_BATCH: default `10`, but its default cell says `100`",
		"KONNECTOR_VALUES: has no default, but its default cell says none (want a cell starting with \"empty\")",
		"KONNECTOR_MISSING: no row in the settings table",
		"KONNECTOR_GONE: documented, but not a setting of package settings",
		"KONNECTOR_REPOSITORY: documented twice",
	}
	if !slices.Equal(got, wantProblems) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantProblems, "\n"))
	}
}
