package storetest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dropwire/dropwire/internal/store"
)

// keptRuns bounds the runs of one script kept for the slot check: the
// first ones, with the keys the domain code built for them.
const keptRuns = 64

// runLog is every script run by the cluster stores of this test binary:
// for each script, the keys of its first keptRuns runs.
var runLog = struct {
	sync.Mutex
	runs map[*store.Script][][]string
}{runs: make(map[*store.Script][][]string)}

// recordRun is the OnRun of the cluster stores storetest makes.
func recordRun(s *store.Script, keys []string) {
	runLog.Lock()
	defer runLog.Unlock()
	if runs := runLog.runs[s]; len(runs) < keptRuns {
		runLog.runs[s] = append(runs, slices.Clone(keys))
	}
}

// M is what TestMain runs: a *testing.M, or ScriptCheck's wrapper of one.
type M interface{ Run() int }

// ScriptCheck wraps a package's m so that, once its tests have passed on
// the test cluster, Run proves what the cluster enforces: every script
// call the tests made kept to one hash slot, as CLUSTER KEYSLOT says of
// each of its keys; and, when the whole package ran (no -run), every
// script the package's own files make (store.Scripts) ran on the cluster
// at least once. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.ScriptCheck(m).Run()) }
//
// pkgs names other packages (directories from the module's root, e.g.
// "admin") whose scripts this package's tests are the ones to run.
func ScriptCheck(m M, pkgs ...string) M {
	_, file, _, _ := runtime.Caller(1)
	dir := filepath.Dir(file)
	dirs := []string{dir}
	if len(pkgs) > 0 {
		root := dir
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil || filepath.Dir(root) == root {
				break
			}
			root = filepath.Dir(root)
		}
		for _, p := range pkgs {
			dirs = append(dirs, filepath.Join(root, filepath.FromSlash(p)))
		}
	}
	return scriptCheck{m: m, dirs: dirs}
}

type scriptCheck struct {
	m    M
	dirs []string // the packages whose scripts must have run
}

func (c scriptCheck) Run() int {
	code := c.m.Run()
	if code != 0 || len(ClusterAddrs()) == 0 {
		return code
	}
	problems := c.check()
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "storetest: script check:", p)
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}

func (c scriptCheck) check() []string {
	runLog.Lock()
	runs := make(map[*store.Script][][]string, len(runLog.runs))
	for s, r := range runLog.runs {
		runs[s] = r
	}
	runLog.Unlock()

	var problems []string
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: ClusterAddrs()})
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot := make(map[string]int64) // key → CLUSTER KEYSLOT
	var ask []string
	for _, rs := range runs {
		for _, keys := range rs {
			for _, k := range keys {
				if _, ok := slot[k]; !ok {
					slot[k] = -1
					ask = append(ask, k)
				}
			}
		}
	}
	for len(ask) > 0 {
		n := min(len(ask), 500)
		pipe := cc.Pipeline()
		cmds := make([]*redis.IntCmd, n)
		for i, k := range ask[:n] {
			cmds[i] = pipe.ClusterKeySlot(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return []string{fmt.Sprintf("CLUSTER KEYSLOT: %v", err)}
		}
		for i, k := range ask[:n] {
			slot[k] = cmds[i].Val()
		}
		ask = ask[n:]
	}
	for s, rs := range runs {
		for _, keys := range rs {
			slots := make(map[int64][]string)
			for _, k := range keys {
				slots[slot[k]] = append(slots[slot[k]], k)
			}
			if len(slots) > 1 {
				problems = append(problems, fmt.Sprintf("script %q ran with keys in %d slots: %v", s.Name, len(slots), slots))
			}
		}
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return problems // a part of the package ran: no coverage to ask for
	}
	var never []string
	for _, s := range store.Scripts() {
		f := s.File()
		if !slices.Contains(c.dirs, filepath.Dir(f)) || strings.HasSuffix(f, "_test.go") {
			continue
		}
		if _, ran := runs[s]; !ran {
			never = append(never, fmt.Sprintf("%s (%s)", s.Name, filepath.Base(f)))
		}
	}
	sort.Strings(never)
	for _, n := range never {
		problems = append(problems, "script "+n+" never ran on the test cluster: give it a test on storetest.Each or EachRedis")
	}
	return problems
}
