package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unicode"
	"unicode/utf8"
)

// MaxCodeLen is the longest compensation code, in characters.
const MaxCodeLen = 128

// CodeError is a line of a codes list that holds no valid code. It
// matches ErrInvalidCode. Msg never quotes the line: codes are worth
// something.
type CodeError struct {
	Line int
	Msg  string
}

func (e *CodeError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Is makes errors.Is(err, ErrInvalidCode) hold.
func (e *CodeError) Is(target error) bool { return target == ErrInvalidCode }

// ParseCodes reads a list of compensation codes, the format of a
// codes_file and of the codes upload: one code a line, surrounding blanks
// trimmed, blank lines and lines starting with # skipped, a repeated code
// kept once. A code is at most MaxCodeLen printable characters of valid
// UTF-8. Errors: a *CodeError naming the first bad line, ErrNoCodes.
func ParseCodes(data []byte) ([]string, error) {
	var codes []string
	seen := make(map[string]bool)
	rest := bytes.TrimPrefix(data, []byte("\ufeff")) // a byte-order mark some editors write
	for n := 1; len(rest) > 0; n++ {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		c := string(bytes.TrimSpace(line))
		if c == "" || c[0] == '#' {
			continue
		}
		if msg := checkCode(c); msg != "" {
			return nil, &CodeError{Line: n, Msg: msg}
		}
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	if len(codes) == 0 {
		return nil, ErrNoCodes
	}
	return codes, nil
}

// checkCode says what is wrong with a trimmed, non-empty code, or "".
func checkCode(c string) string {
	if !utf8.ValidString(c) {
		return "not valid UTF-8"
	}
	if n := utf8.RuneCountInString(c); n > MaxCodeLen {
		return fmt.Sprintf("the code has %d characters; at most %d are allowed", n, MaxCodeLen)
	}
	for _, r := range c {
		if !unicode.IsPrint(r) {
			return fmt.Sprintf("the code holds a control or non-printable character (U+%04X)", r)
		}
	}
	return ""
}

// ReadCodes reads and parses the codes file at path (see ParseCodes).
// Errors name the file: a read error (fs.ErrNotExist, ...), a
// *CodeError, ErrNoCodes.
func ReadCodes(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("codes file: %w", err)
	}
	codes, err := ParseCodes(data)
	if err != nil {
		return nil, fmt.Errorf("codes file %s: %w", path, err)
	}
	return codes, nil
}

// CodesProblem explains err of ReadCodes for the operator, naming the
// file as it was written (name) rather than as resolved.
func CodesProblem(name string, err error) string {
	var pe *fs.PathError
	var ce *CodeError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("%q %s", name, ce.Error())
	case errors.Is(err, ErrNoCodes):
		return fmt.Sprintf("%q holds no codes (one a line; lines starting with # are comments)", name)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%q does not exist (relative paths start at the configuration file's directory)", name)
	case errors.As(err, &pe):
		return fmt.Sprintf("cannot read %q: %v", name, pe.Err)
	default:
		return fmt.Sprintf("cannot read %q: %v", name, err)
	}
}
