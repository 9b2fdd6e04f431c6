package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCodes(t *testing.T) {
	long := strings.Repeat("x", MaxCodeLen)
	for _, tc := range []struct {
		name  string
		in    string
		codes []string
		line  int // the *CodeError's line; 0: none
		msg   string
		none  bool // ErrNoCodes
	}{
		{name: "lines, comments, blanks, repeats", in: "# pool\n\nA-1\n  B-2  \r\nA-1\n#C\nC-3",
			codes: []string{"A-1", "B-2", "C-3"}},
		{name: "byte-order mark", in: "\ufeffA-1\n", codes: []string{"A-1"}},
		{name: "inner space and unicode", in: "Gutschein 5 €\n", codes: []string{"Gutschein 5 €"}},
		{name: "longest", in: long + "\n", codes: []string{long}},
		{name: "too long", in: "ok\n" + long + "y\n", line: 2, msg: "129 characters"},
		{name: "control character", in: "a\nb\x00c\n", line: 2, msg: "U+0000"},
		{name: "escape sequence", in: "\x1b[31mred\n", line: 1, msg: "U+001B"},
		{name: "invalid UTF-8", in: "a\n\n\xff\xfe\n", line: 3, msg: "UTF-8"},
		{name: "empty", in: "", none: true},
		{name: "only comments", in: "# nothing yet\n\n  \n", none: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			codes, err := ParseCodes([]byte(tc.in))
			var ce *CodeError
			switch {
			case tc.none:
				if !errors.Is(err, ErrNoCodes) {
					t.Fatalf("got %q, %v; want ErrNoCodes", codes, err)
				}
			case tc.line > 0:
				if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidCode) || ce.Line != tc.line || !strings.Contains(ce.Msg, tc.msg) {
					t.Fatalf("got %q, %v; want line %d: …%s…", codes, err, tc.line, tc.msg)
				}
			default:
				if err != nil || !slices.Equal(codes, tc.codes) {
					t.Fatalf("got %q, %v; want %q", codes, err, tc.codes)
				}
			}
		})
	}
}

func FuzzParseCodes(f *testing.F) {
	f.Add([]byte("# pool\nA-1\nB-2\n\nA-1\n"))
	f.Add([]byte("\ufeffCODE-0001\r\nCODE-0002\r\n"))
	f.Add([]byte("a\x00b\n"))
	f.Add([]byte(strings.Repeat("z", 200)))
	f.Fuzz(func(t *testing.T, data []byte) {
		codes, err := ParseCodes(data)
		if err != nil {
			if len(codes) > 0 {
				t.Fatal("codes and an error")
			}
			var ce *CodeError
			if !errors.Is(err, ErrNoCodes) && (!errors.As(err, &ce) || ce.Line < 1) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if c == "" || c[0] == '#' || seen[c] || strings.TrimSpace(c) != c || utf8.RuneCountInString(c) > MaxCodeLen ||
				!utf8.ValidString(c) || strings.ContainsAny(c, "\n\r\x00") {
				t.Fatalf("bad code %q", c)
			}
			seen[c] = true
		}
	})
}

// check-config reads each code-compensated drop's codes_file (relative to
// the configuration's directory) and reports a missing, empty or invalid
// one at the line of its codes_file.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("good.txt", "A-1\nA-2\n")
	write("empty.txt", "# to do\n")
	write("bad.txt", "A-1\nA\x07B\n")
	yaml := base + `  - id: good
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
    compensation: {kind: code, codes_file: good.txt}
  - id: missing
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
    compensation: {kind: code, codes_file: missing.txt}
  - id: empty
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
    compensation:
      kind: code
      codes_file: empty.txt
  - id: bad
    creator: ava
    stock: [{node: shop, sku: sticker, qty: 10}]
    compensation: {kind: code, codes_file: bad.txt}
`
	file := filepath.Join(dir, "dropwire.yaml")
	c, err := Parse(file, []byte(yaml), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkProblems(t, file, problems(t, c.CheckFiles()), []want{
		{23, "drops[2].compensation.codes_file", `"missing.txt" does not exist`},
		{29, "drops[3].compensation.codes_file", `"empty.txt" holds no codes`},
		{33, "drops[4].compensation.codes_file", `"bad.txt" line 2: the code holds a control`},
	})
	if strings.Contains(c.CheckFiles().Error(), "A-1") {
		t.Fatal("a problem quotes a code")
	}
	c.Drops = c.Drops[:2]
	if err := c.CheckFiles(); err != nil {
		t.Fatalf("valid codes files: %v", err)
	}
}

// A drop of the admin API may have compensation kind code without a
// codes_file (its codes are uploaded); a drop of the file may not.
func TestCodeCompensationWithoutFile(t *testing.T) {
	c := mustParse(t, base, nil)
	d := &Drop{ID: "new", Creator: "ava", Stock: []StockLine{{Node: "shop", SKU: "x", Qty: 3}},
		Compensation: Compensation{Kind: CompensationCode}}
	if err := c.CheckDrop(d); err != nil {
		t.Fatalf("CheckDrop: %v", err)
	}
	_, err := Parse("test.yaml", []byte(base+"    compensation: {kind: code}\n"), nil)
	checkProblems(t, "test.yaml", problems(t, err), []want{
		{16, "drops[0].compensation.codes_file", "is required for kind code"},
	})
}
