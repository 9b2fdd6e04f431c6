package overlay

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dropwire/dropwire/internal/store/storetest"
)

// The benchmarks keep the overlay clients in a child process (this test
// binary, re-run as TestBenchClients), so that the server side is measured
// alone and 10,000 sockets fit the file descriptor limit.

const clientsEnv = "OVERLAY_BENCH_CLIENTS" // "<ws url> <n>"

// TestBenchClients is the child process: it holds n overlay sockets, prints
// "ready" once each has its first state, then prints seq whenever every
// socket has received the frame with that seq.
func TestBenchClients(t *testing.T) {
	spec := os.Getenv(clientsEnv)
	if spec == "" {
		t.Skip("child process of the benchmarks")
	}
	url, ns, _ := strings.Cut(spec, " ")
	n, _ := strconv.Atoi(ns)
	var (
		mu     sync.Mutex
		counts = map[int64]int{}
		out    = bufio.NewWriter(os.Stdout)
	)
	report := func(seq int64) {
		mu.Lock()
		counts[seq]++
		if counts[seq] == n {
			delete(counts, seq)
			fmt.Fprintln(out, seq)
			_ = out.Flush()
		}
		mu.Unlock()
	}
	var ready sync.WaitGroup
	for range n {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		ready.Add(1)
		go func() {
			first := true
			for {
				_, r, err := ws.NextReader()
				if err != nil {
					os.Exit(0) // the parent is done
				}
				var head [48]byte
				k, _ := io.ReadFull(r, head[:])
				_, _ = io.Copy(io.Discard, r)
				if first {
					first = false
					ready.Done()
					continue
				}
				var seq int64
				if _, err := fmt.Sscanf(string(head[:k]), `{"v":2,"type":"state","seq":%d`, &seq); err == nil {
					report(seq)
				}
			}
		}()
	}
	ready.Wait()
	fmt.Fprintln(out, "ready")
	_ = out.Flush()
	select {}
}

// startClients runs n overlay clients against e in a child process.
func startClients(b *testing.B, e *env, n int) *bufio.Scanner {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchClients$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), clientsEnv+"="+e.wsURL("ava", testKey)+" "+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "ready" {
			return sc
		}
	}
	b.Fatalf("clients did not start: %v", sc.Err())
	return nil
}

// BenchmarkBroadcast: one state frame (a real open state, ~390 bytes with
// its QR modules) to every connection, until the last one has read it.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			e := newEnv(b, storetest.Memory(b), func(c *HubConfig) { c.WriteTimeout = 30 * time.Second }, testDrop("a"))
			size, modules, _ := QRModules("https://drops.example.com/c/ABCDEFGHIJ")
			sc := startClients(b, e, n)
			for e.hub.Connected("ava") != n {
				time.Sleep(10 * time.Millisecond)
			}
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				st := openState(time.Now(), size, modules)
				st.Seq = int64(i)
				e.hub.broadcast("ava", st.encode())
				if !sc.Scan() {
					b.Fatal("clients gone")
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkIdleConnMemory reports the server-side heap and stack held by
// one idle overlay connection (target: <= 20 KB).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 5000
	e := newEnv(b, storetest.Memory(b), nil, testDrop("a"))
	before := memInUse()
	startClients(b, e, n)
	for e.hub.Connected("ava") != n {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	after := memInUse()
	b.ReportMetric(float64(after-before)/n, "bytes/conn")
	for range b.N {
		// Nothing to repeat: the measure is of a state, not an operation.
	}
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
