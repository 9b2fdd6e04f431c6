// Package logging builds the zerolog logger the process passes to every
// component. There is no global logger: components receive theirs.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Formats of log output.
const (
	FormatAuto    = ""
	FormatJSON    = "json"
	FormatConsole = "console"
)

// New returns a logger writing to w at level in format. FormatAuto picks
// console output when w is a terminal and JSON otherwise.
func New(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl := zerolog.InfoLevel
	if level != "" {
		var err error
		lvl, err = zerolog.ParseLevel(strings.ToLower(level))
		if err != nil {
			return zerolog.Nop(), fmt.Errorf("log level %q: want debug, info, warn or error", level)
		}
	}
	switch format {
	case FormatAuto:
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
		}
	case FormatJSON:
	case FormatConsole:
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
