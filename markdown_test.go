package konnectorhooks_test

// The repository's Markdown must render on GitHub without dead ends: every
// relative link names a file or directory that exists, and every #anchor,
// in the same page or another one, names a heading there (GitHub's slugs).
// `make test` runs this with the rest of the root module.

import (
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

func TestMarkdown_EveryLinkAndAnchorResolves(t *testing.T) {
	fsys := os.DirFS(".")
	files, err := markdownFiles(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"README.md", "docs/settings.md", "bench/report.md"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s is not among the files checked: %v", want, files)
		}
	}
	for _, problem := range checkMarkdown(fsys, files) {
		t.Error(problem)
	}
}

func TestMarkdown_CheckFindsBrokenLinksAndAnchors(t *testing.T) {
	fsys := fstest.MapFS{
		"README.md": {Data: []byte(strings.Join([]string{
			"# Title",
			"",
			"## Install it",
			"",
			"[fine](docs/a.md#usage-notes) [fine too](#install-it) [dir](docs) [web](https://example.com/x.md#y)",
			"[missing file](docs/missing.md) and [missing anchor](docs/a.md#nope)",
			"[missing here](#title-1) and ![missing image](img/none.png)",
			"[outside the repository](../elsewhere.md) [line of code](main.go#L3)",
			"```sh",
			"[in a code block](nowhere.md)",
			"```",
			"`[in a code span](nowhere.md)` and [ref link][ref]",
			"",
			"[ref]: docs/gone.md",
		}, "\n"))},
		"main.go": {Data: []byte("package main\n")},
		"docs/a.md": {Data: []byte(strings.Join([]string{
			"# A",
			"",
			"## Usage notes",
			"",
			"## Usage notes",
			"",
			"[second one](#usage-notes-1) [third one](#usage-notes-2) [root](/README.md#title)",
			"[up](../README.md#install-it) [html anchor](#kept)",
			"",
			`<a id="kept"></a>`,
		}, "\n"))},
	}
	got := checkMarkdown(fsys, []string{"README.md", "docs/a.md"})
	want := []string{
		`README.md:6: link "docs/missing.md": docs/missing.md does not exist`,
		`README.md:6: link "docs/a.md#nope": docs/a.md has no heading for #nope`,
		`README.md:7: link "#title-1": README.md has no heading for #title-1`,
		`README.md:7: link "img/none.png": img/none.png does not exist`,
		`README.md:8: link "../elsewhere.md": points outside the repository`,
		`README.md:14: link "docs/gone.md": docs/gone.md does not exist`,
		`docs/a.md:7: link "#usage-notes-2": docs/a.md has no heading for #usage-notes-2`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMarkdown_SlugsFollowGitHub(t *testing.T) {
	for _, c := range []struct{ heading, slug string }{
		{"Sync: every cluster between the hooks", "sync-every-cluster-between-the-hooks"},
		{"What CI runs, and how long it takes", "what-ci-runs-and-how-long-it-takes"},
		{"`KONNECTOR_SYNC_TIMEOUT` and **bold**", "konnector_sync_timeout-and-bold"},
		{"2–3. Hook latency over loopback, and the floor", "23-hook-latency-over-loopback-and-the-floor"},
		{"Install with [clusterctl](https://cluster-api.sigs.k8s.io)", "install-with-clusterctl"},
		{"Two  spaces -- and dashes", "two--spaces----and-dashes"},
		{"Étapes d'installation", "étapes-dinstallation"},
	} {
		if got := slug(headingText(c.heading)); got != c.slug {
			t.Errorf("slug of %q = %q, want %q", c.heading, got, c.slug)
		}
	}
	doc := "# Notes\n\n## Notes\n\nText\n---\n\n### Notes\n\n```\n# not a heading\n```\n"
	got := slices.Sorted(maps.Keys(anchors(doc)))
	if want := []string{"notes", "notes-1", "notes-2", "text"}; !slices.Equal(got, want) {
		t.Errorf("anchors = %v, want %v", got, want)
	}
}

// markdownFiles lists the Markdown files of the repository, leaving out
// hidden directories and the build outputs .gitignore names.
func markdownFiles(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || slices.Contains([]string{"bin", "out", "bench/tmp"}, p)):
			return fs.SkipDir
		case !d.IsDir() && strings.EqualFold(path.Ext(p), ".md"):
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

var (
	// inlineLink matches [text](target) and ![alt](target), with an
	// optional title; the target may be in angle brackets.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)`)
	// referenceDefinition matches [label]: target.
	referenceDefinition = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
	// scheme matches a target that is a URL, not a path in the repository.
	scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// htmlAnchor matches an anchor given in HTML: id="..." or name="...".
	htmlAnchor = regexp.MustCompile(`<[a-zA-Z][^>]*\s(?:id|name)="([^"]+)"`)
)

// checkMarkdown returns one line for each link of files that does not
// resolve in fsys.
func checkMarkdown(fsys fs.FS, files []string) []string {
	anchorsOf := map[string]map[string]bool{}
	anchorsIn := func(file string) (map[string]bool, error) {
		if a, ok := anchorsOf[file]; ok {
			return a, nil
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		anchorsOf[file] = anchors(string(b))
		return anchorsOf[file], nil
	}
	var problems []string
	for _, file := range files {
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, l := range links(string(b)) {
			if problem := resolve(fsys, file, l.target, anchorsIn); problem != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: link %q: %s", file, l.line, l.target, problem))
			}
		}
	}
	return problems
}

// resolve says what is wrong with target, a link of file; "" when nothing.
func resolve(fsys fs.FS, file, target string, anchorsIn func(string) (map[string]bool, error)) string {
	if scheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return ""
	}
	p, anchor, hasAnchor := strings.Cut(target, "#")
	p, err := url.PathUnescape(p)
	if err != nil {
		return "is not a valid path: " + err.Error()
	}
	switch {
	case p == "":
		p = file
	case strings.HasPrefix(p, "/"):
		p = path.Clean(strings.TrimPrefix(p, "/"))
	default:
		p = path.Join(path.Dir(file), p)
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "points outside the repository"
	}
	if _, err := fs.Stat(fsys, p); err != nil {
		return p + " does not exist"
	}
	if !hasAnchor || !strings.EqualFold(path.Ext(p), ".md") {
		return ""
	}
	a, err := anchorsIn(p)
	if err != nil {
		return err.Error()
	}
	if !a[anchor] {
		return fmt.Sprintf("%s has no heading for #%s", p, anchor)
	}
	return ""
}

// link is one link target and the line it is on.
type link struct {
	line   int
	target string
}

// links lists the link targets of a Markdown document, outside code blocks
// and code spans.
func links(doc string) []link {
	var out []link
	for i, line := range proseLines(doc) {
		if line == "" {
			continue
		}
		line = withoutCodeSpans(line)
		if m := referenceDefinition.FindStringSubmatch(line); m != nil {
			out = append(out, link{i + 1, strings.Trim(m[1], "<>")})
			continue
		}
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, link{i + 1, strings.Trim(m[1], "<>")})
		}
	}
	return out
}

// withoutCodeSpans removes the code spans of a line: a run of backticks up
// to the next run of the same length. An unmatched run stays as text.
func withoutCodeSpans(line string) string {
	var b strings.Builder
	for {
		start := strings.Index(line, "`")
		if start < 0 {
			return b.String() + line
		}
		run := len(line[start:]) - len(strings.TrimLeft(line[start:], "`"))
		end := -1
		for rest := start + run; rest < len(line); {
			i := strings.Index(line[rest:], "`")
			if i < 0 {
				break
			}
			i += rest
			n := len(line[i:]) - len(strings.TrimLeft(line[i:], "`"))
			if n == run {
				end = i + n
				break
			}
			rest = i + n
		}
		if end < 0 {
			b.WriteString(line[:start+run])
			line = line[start+run:]
			continue
		}
		b.WriteString(line[:start])
		line = line[end:]
	}
}

// proseLines is the document's lines with those of fenced code blocks
// (fences included) blanked, so that line numbers stay.
func proseLines(doc string) []string {
	lines := strings.Split(doc, "\n")
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimLeft(line, " ")
		opens := len(line)-len(trimmed) <= 3 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"))
		switch {
		case fence == "" && opens:
			fence = trimmed[:3]
			lines[i] = ""
		case fence != "":
			if opens && strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
				fence = ""
			}
			lines[i] = ""
		}
	}
	return lines
}

var (
	atxHeading    = regexp.MustCompile(`^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$`)
	setextMarker  = regexp.MustCompile(`^ {0,3}(?:=+|-+)\s*$`)
	setextBlocker = regexp.MustCompile(`^\s*(?:[#>|*+-]|\d+[.)]\s)`)
)

// anchors is the set of anchors a document defines: its headings' slugs,
// numbered as GitHub numbers repeated ones, and HTML id and name attributes.
func anchors(doc string) map[string]bool {
	lines := proseLines(doc)
	out := map[string]bool{}
	seen := map[string]int{}
	add := func(text string) {
		base := slug(headingText(text))
		s := base
		for _, dup := seen[s]; dup; _, dup = seen[s] {
			seen[base]++
			s = fmt.Sprintf("%s-%d", base, seen[base])
		}
		seen[s] = 0
		out[s] = true
	}
	for i, line := range lines {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			add(m[1])
			continue
		}
		if i > 0 && setextMarker.MatchString(line) {
			prev := lines[i-1]
			if strings.TrimSpace(prev) != "" && !setextBlocker.MatchString(prev) && !strings.HasPrefix(prev, "    ") {
				add(prev)
			}
		}
	}
	return out
}

var (
	markdownLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag      = regexp.MustCompile(`<[^>]+>`)
)

// headingText is the text a heading renders to: links become their text,
// and code, emphasis and HTML markers go.
func headingText(heading string) string {
	text := markdownLink.ReplaceAllString(heading, "$1")
	text = htmlTag.ReplaceAllString(text, "")
	text = strings.NewReplacer("`", "", "*", "").Replace(text)
	return strings.TrimSpace(text)
}

// slug is GitHub's anchor for a heading's text: lower case, every
// character but letters, marks, digits, connector punctuation (such as _),
// spaces and hyphens removed, and each space made a hyphen.
func slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Pc):
			b.WriteRune(r)
		}
	}
	return b.String()
}
