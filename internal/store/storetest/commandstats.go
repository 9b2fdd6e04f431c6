package storetest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// CmdStat is one command's line of INFO commandstats: how often it ran
// and the processor time Redis spent in it, in microseconds. A script's
// line (evalsha) includes the commands it called, which have lines of
// their own as well.
type CmdStat struct {
	Calls int64
	Usec  int64
}

// UsecPerCall is the mean processor time of one call, in microseconds.
func (s CmdStat) UsecPerCall() float64 {
	if s.Calls == 0 {
		return 0
	}
	return float64(s.Usec) / float64(s.Calls)
}

// CommandStats reads INFO commandstats of every node at addrs (host:port:
// one Redis, or the masters of a cluster) and sums them by command.
func CommandStats(t testing.TB, addrs ...string) map[string]CmdStat {
	t.Helper()
	out := make(map[string]CmdStat)
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.Info(context.Background(), "commandstats").Result()
		_ = c.Close()
		if err != nil {
			t.Fatalf("storetest: INFO commandstats of %s: %v", a, err)
		}
		for name, s := range parseCommandStats(info) {
			sum := out[name]
			sum.Calls += s.Calls
			sum.Usec += s.Usec
			out[name] = sum
		}
	}
	return out
}

// parseCommandStats reads lines such as
// "cmdstat_evalsha:calls=10,usec=123,usec_per_call=12.30,…".
func parseCommandStats(info string) map[string]CmdStat {
	out := make(map[string]CmdStat)
	for _, line := range strings.Split(info, "\n") {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var s CmdStat
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				s.Calls = n
			case "usec":
				s.Usec = n
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = s
	}
	return out
}

// DiffStats returns after − before, command by command, leaving out
// commands that did not run in between.
func DiffStats(before, after map[string]CmdStat) map[string]CmdStat {
	out := make(map[string]CmdStat)
	for name, a := range after {
		b := before[name]
		if d := (CmdStat{Calls: a.Calls - b.Calls, Usec: a.Usec - b.Usec}); d.Calls > 0 {
			out[name] = d
		}
	}
	return out
}

// Masters returns the addresses of the cluster's masters now.
func (c *PrivateCluster) Masters() []string {
	c.t.Helper()
	var out []string
	for _, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: n.Addr()})
		info, err := cl.Info(context.Background(), "replication").Result()
		_ = cl.Close()
		if err == nil && strings.Contains(info, "role:master") {
			out = append(out, n.Addr())
		}
	}
	return out
}

// CPUSeconds is the processor time (user + system) the Redis processes
// at addrs have used so far, from INFO cpu: commands, and the reading and
// writing of their clients' sockets that commandstats leaves out.
func CPUSeconds(t testing.TB, addrs ...string) float64 {
	t.Helper()
	var sum float64
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.Info(context.Background(), "cpu").Result()
		_ = c.Close()
		if err != nil {
			t.Fatalf("storetest: INFO cpu of %s: %v", a, err)
		}
		for _, line := range strings.Split(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if k == "used_cpu_sys" || k == "used_cpu_user" {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
	}
	return sum
}
