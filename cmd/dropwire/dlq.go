package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

const dlqSynopsis = "dlq list | replay ID... | replay --all  [--url URL] [--admin-token TOKEN | --config FILE]"

const dlqHelp = `
dlq talks to a running server's admin API (/v1/admin/dlq), so it sees the dead
letters of every drop, those created through the API included, on any store.

  list          the dead letters: id, drop, node, type, reason, attempts, last
                error, and since when (--json: as the API returns them)
  replay ID...  puts each back into its drop's outbox with the same webhook-id.
                A forward_failed claim moves back to forwarded and is sent again.
                A claim that has settled (picked up, rejected, failed or
                compensated, or with its compensation on the way to the
                creator's webhook) is not sent: a line says so and its dead
                letter stays listed. Replaying an entry of a node that answered
                410 Gone enables the node again.
  replay --all  the same for every dead letter.

The server is --url, else the public_url of --config, else http://127.0.0.1:8080.
The admin token is --admin-token, else $DROPWIRE_ADMIN_TOKEN, else the
admin_token of --config; it is never printed.

Exit status: 0 when everything asked for was done, or when at least one dead
letter was replayed and the others were left because their claims have
settled; 1 when nothing was replayed because every one had settled, when an id
is unknown, or when the server cannot be asked; 2 for a usage error.`

// deadLetter is one entry of GET /v1/admin/dlq.
type deadLetter struct {
	ID       string    `json:"id"`
	Drop     string    `json:"drop"`
	Node     string    `json:"node"`
	Type     string    `json:"type"`
	Claim    string    `json:"claim"`
	Reason   string    `json:"reason"`
	Last     string    `json:"last"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

// runDLQ lists or replays dead-lettered deliveries through a server's
// admin API.
func runDLQ(ctx context.Context, env *environ, args []string) error {
	fs := newFlagSet(env, "dlq", dlqSynopsis)
	cfgPath := fs.String("config", env.envDefault("DROPWIRE_CONFIG", ""), "configuration file, for the server URL and admin token (env DROPWIRE_CONFIG)")
	base := fs.String("url", "", "base URL of a running server (default: the public_url of --config, else http://127.0.0.1:8080)")
	// No default from the environment: --help prints defaults.
	token := fs.String("admin-token", "", "admin token (default: $DROPWIRE_ADMIN_TOKEN, else the admin_token of --config)")
	all := fs.Bool("all", false, "replay: every dead letter")
	asJSON := fs.Bool("json", false, "list: print JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the server after this long")
	fs.Func("redis-url", "no longer used: dlq asks a server (see --url)", func(string) error {
		return errors.New("dlq no longer reads Redis: it asks a running server's admin API (--url, --admin-token)")
	})
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintln(env.stderr, dlqHelp)
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		fs.Usage()
		return errUsage
	}
	sub := args[0]
	ids, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case sub != "list" && sub != "replay":
		fmt.Fprintf(env.stderr, "unknown dlq command %q\n", sub)
		fs.Usage()
		return errUsage
	case sub == "replay" && (len(ids) == 0) == !*all:
		fmt.Fprintln(env.stderr, "replay needs dead letter ids or --all, not both")
		fs.Usage()
		return errUsage
	case sub == "list" && (len(ids) > 0 || *all):
		fmt.Fprintln(env.stderr, "list takes no id and no --all")
		fs.Usage()
		return errUsage
	}

	c := &adminClient{base: *base, token: *token, http: &http.Client{Timeout: *timeout}}
	if c.token == "" {
		c.token = env.envDefault("DROPWIRE_ADMIN_TOKEN", "")
	}
	if *cfgPath != "" && (c.base == "" || c.token == "") {
		cfg, err := loadConfig(env, *cfgPath)
		if err != nil {
			return err
		}
		if c.base == "" {
			c.base = cfg.PublicURL
		}
		if c.token == "" {
			c.token = cfg.AdminToken
		}
	}
	if c.base == "" {
		c.base = "http://127.0.0.1:8080"
	}
	c.base = strings.TrimRight(c.base, "/")
	if u, err := url.Parse(c.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(env.stderr, "--url %q is not an http(s) URL\n", c.base)
		return errUsage
	}
	if c.token == "" {
		fmt.Fprintln(env.stderr, "dlq needs the admin token: --admin-token, DROPWIRE_ADMIN_TOKEN, or --config with admin_token")
		return errUsage
	}

	switch {
	case sub == "list":
		return dlqList(ctx, env, c, *asJSON)
	case *all:
		return dlqReplayAll(ctx, env, c)
	default:
		return dlqReplay(ctx, env, c, ids)
	}
}

// parseInterspersed parses flags anywhere among the positional arguments
// (dlq replay A --url U B) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func dlqList(ctx context.Context, env *environ, c *adminClient, asJSON bool) error {
	var res struct {
		DeadLetters json.RawMessage `json:"dead_letters"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/admin/dlq", &res); err != nil {
		return &exitError{code: 1, err: err}
	}
	if asJSON {
		_, err := fmt.Fprintln(env.stdout, string(res.DeadLetters))
		return err
	}
	var dls []deadLetter
	if err := json.Unmarshal(res.DeadLetters, &dls); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("%s: unexpected answer: %w", c.base, err)}
	}
	if len(dls) == 0 {
		fmt.Fprintln(env.stdout, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDROP\tNODE\tTYPE\tREASON\tATTEMPTS\tLAST ERROR\tDEAD SINCE")
	for _, d := range dls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Drop, d.Node, d.Type, d.Reason, d.Attempts,
			oneLine(d.Last, 80), d.At.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func dlqReplay(ctx context.Context, env *environ, c *adminClient, ids []string) error {
	var replayed, settled, failed int
	for _, id := range ids {
		_, err := c.do(ctx, http.MethodPost, "/v1/admin/dlq/"+url.PathEscape(id)+"/replay", nil)
		var pe *problemError
		switch {
		case err == nil:
			replayed++
			fmt.Fprintf(env.stdout, "replayed %s\n", id)
		case errors.As(err, &pe) && pe.Code == "claim_settled":
			settled++
			fmt.Fprintf(env.stdout, "left %s: claim %s is %s (settled); not sent again\n", id, pe.Claim, pe.State)
		case errors.As(err, &pe) && pe.Status == http.StatusNotFound:
			failed++
			fmt.Fprintf(env.stderr, "no dead letter %s\n", id)
		default:
			// The server cannot be asked: the other ids would fail alike.
			return &exitError{code: 1, err: err}
		}
	}
	return replayExit(replayed, settled, failed)
}

func dlqReplayAll(ctx context.Context, env *environ, c *adminClient) error {
	var res struct {
		Replayed int      `json:"replayed"`
		Settled  []string `json:"settled"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/admin/dlq/replay", &res); err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(env.stdout, "replayed %d\n", res.Replayed)
	for _, id := range res.Settled {
		fmt.Fprintf(env.stdout, "left %s: its claim has settled; not sent again\n", id)
	}
	return replayExit(res.Replayed, len(res.Settled), 0)
}

// replayExit: an unknown id fails the command; settled claims fail it only
// when nothing was replayed.
func replayExit(replayed, settled, failed int) error {
	switch {
	case failed > 0:
		return &exitError{code: 1, err: fmt.Errorf("%d of the dead letters not found", failed)}
	case settled > 0 && replayed == 0:
		return &exitError{code: 1, err: errors.New("nothing replayed: every claim asked for has settled")}
	}
	return nil
}

// oneLine fits an error message into a table cell: one line, at most n
// characters, keeping the end (where "connection refused" or "HTTP 500"
// is).
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return "…" + string(r[len(r)-n+1:])
	}
	return s
}

// adminClient calls a server's admin API.
type adminClient struct {
	base, token string
	http        *http.Client
}

// problemError is a problem details answer.
type problemError struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Claim  string `json:"claim"`
	State  string `json:"state"`
	url    string
}

func (e *problemError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s answered %d %s", e.url, e.Status, e.Code)
	}
	return fmt.Sprintf("%s answered %d %s: %s", e.url, e.Status, e.Code, e.Detail)
}

// do sends one request and decodes a 2xx answer into out (when not nil).
// Errors say which server and what to check; never the token.
func (c *adminClient) do(ctx context.Context, method, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return 0, fmt.Errorf("cannot reach the server at %s: connection refused (is it running? set --url)", c.base)
		case errors.As(err, &ne) && ne.Timeout():
			return 0, fmt.Errorf("the server at %s did not answer in time (--timeout)", c.base)
		default:
			return 0, fmt.Errorf("cannot reach the server at %s: %w", c.base, errors.Unwrap(err))
		}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return res.StatusCode, fmt.Errorf("%s: reading the answer: %w", c.base, err)
	}
	if res.StatusCode == http.StatusUnauthorized {
		return res.StatusCode, fmt.Errorf("the server at %s refused the admin token (check --admin-token or DROPWIRE_ADMIN_TOKEN)", c.base)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		pe := &problemError{Status: res.StatusCode, url: c.base + path}
		if json.Unmarshal(body, pe) != nil || pe.Code == "" {
			pe.Code, pe.Detail = http.StatusText(res.StatusCode), "not a Dropwire admin API answer (is --url right?)"
		}
		return res.StatusCode, pe
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s: not a Dropwire admin API answer (is --url right?): %w", c.base, err)
		}
	}
	return res.StatusCode, nil
}
