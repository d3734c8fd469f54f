package main

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Resources is what this process used during a phase. For an in-process
// deployment the process is the server, plus whatever load generator
// runs in it (Scope says which).
type Resources struct {
	Scope string `json:"scope"`
	// CPUSeconds is user+system CPU time (getrusage); CPUCores is that over
	// the phase's wall time.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUCores   float64 `json:"cpu_cores"`
	// WallSeconds is how long the sampling lasted.
	WallSeconds float64 `json:"wall_seconds"`
	// MachineBusyCores is how many of the machine's CPUs were busy over the
	// phase, every process included (/proc/stat): with PostgreSQL and
	// Redis on the same machine, their share is MachineBusyCores −
	// CPUCores, plus whatever else ran.
	MachineBusyCores float64 `json:"machine_busy_cores"`
	// PostgresCores and RedisCores are the CPUs that the postgres and
	// redis-server processes used (/proc/PID/stat); OtherCores is the rest
	// of MachineBusyCores: other work on the machine, which a clean
	// measurement keeps near zero.
	PostgresCores float64 `json:"postgres_cores"`
	RedisCores    float64 `json:"redis_cores"`
	OtherCores    float64 `json:"other_cores"`
	// KernelCores is interrupt and softirq time (loopback networking is
	// mostly here) and StealCores the time the hypervisor gave to others;
	// both are inside OtherCores. OtherTop names the busiest other
	// processes.
	// ChildCores is what this process's children used (the subscribers
	// scenario's client process); it is not in OtherCores.
	ChildCores  float64  `json:"child_cores"`
	KernelCores float64  `json:"kernel_cores"`
	StealCores  float64  `json:"steal_cores"`
	OtherTop    []string `json:"other_top,omitempty"`
	// HeapInuseMiBPeak and HeapInuseMiBEnd are runtime.MemStats.HeapInuse,
	// sampled every 250ms; StackInuseMiBPeak likewise.
	HeapInuseMiBPeak  float64 `json:"heap_inuse_mib_peak"`
	HeapInuseMiBEnd   float64 `json:"heap_inuse_mib_end"`
	StackInuseMiBPeak float64 `json:"stack_inuse_mib_peak"`
	// SysMiB is the memory the Go runtime holds from the OS at the end.
	SysMiB         float64 `json:"sys_mib"`
	GoroutinesPeak int     `json:"goroutines_peak"`
	GCCycles       uint32  `json:"gc_cycles"`
}

// sampler measures Resources between start and stop.
type sampler struct {
	scope   string
	start   time.Time
	cpu0    time.Duration
	stat0   cpuStat
	procs0  map[int]procCPU
	gc0     uint32
	stopped chan struct{}
	done    sync.WaitGroup

	mu                  sync.Mutex
	heapPeak, stackPeak uint64
	goroutinesPeak      int
	lastHeap, lastSys   uint64
}

func startSampler(scope string) *sampler {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := &sampler{scope: scope, start: time.Now(), cpu0: processCPU(), stat0: readCPUStat(), procs0: readProcCPU(), gc0: m.NumGC, stopped: make(chan struct{})}
	s.observe(&m)
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopped:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				s.observe(&m)
			}
		}
	}()
	return s
}

func (s *sampler) observe(m *runtime.MemStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heapPeak = max(s.heapPeak, m.HeapInuse)
	s.stackPeak = max(s.stackPeak, m.StackInuse)
	s.goroutinesPeak = max(s.goroutinesPeak, runtime.NumGoroutine())
	s.lastHeap, s.lastSys = m.HeapInuse, m.Sys
}

// stop ends the sampling and returns what was used since start.
func (s *sampler) stop() *Resources {
	wall := time.Since(s.start)
	cpu := processCPU() - s.cpu0
	stat := readCPUStat()
	procs := readProcCPU()
	close(s.stopped)
	s.done.Wait()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.observe(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	res := &Resources{
		Scope:             s.scope,
		CPUSeconds:        cpu.Seconds(),
		CPUCores:          cpu.Seconds() / wall.Seconds(),
		WallSeconds:       wall.Seconds(),
		MachineBusyCores:  stat.busyCoresSince(s.stat0),
		KernelCores:       stat.coresSince(s.stat0, stat.irq-s.stat0.irq),
		StealCores:        stat.coresSince(s.stat0, stat.steal-s.stat0.steal),
		HeapInuseMiBPeak:  mib(s.heapPeak),
		HeapInuseMiBEnd:   mib(s.lastHeap),
		StackInuseMiBPeak: mib(s.stackPeak),
		SysMiB:            mib(s.lastSys),
		GoroutinesPeak:    s.goroutinesPeak,
		GCCycles:          m.NumGC - s.gc0,
	}
	type use struct {
		name  string
		ticks uint64
	}
	var others []use
	self := os.Getpid()
	for pid, p := range procs {
		d := p.ticks // a process started since counts whole
		if before, ok := s.procs0[pid]; ok && before.comm == p.comm && before.ticks <= p.ticks {
			d -= before.ticks
		}
		switch {
		case pid == self:
		case p.ppid == self:
			res.ChildCores += ticksToCores(d, wall)
		case p.comm == "postgres":
			res.PostgresCores += ticksToCores(d, wall)
		case strings.HasPrefix(p.comm, "redis-server"):
			res.RedisCores += ticksToCores(d, wall)
		case d > 0:
			others = append(others, use{p.comm, d})
		}
	}
	slices.SortFunc(others, func(a, b use) int { return cmp.Compare(b.ticks, a.ticks) })
	for _, o := range others[:min(3, len(others))] {
		res.OtherTop = append(res.OtherTop, fmt.Sprintf("%s %.2f", o.name, ticksToCores(o.ticks, wall)))
	}
	res.OtherCores = max(0, res.MachineBusyCores-res.CPUCores-res.ChildCores-res.PostgresCores-res.RedisCores)
	return res
}

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

func ticksToCores(ticks uint64, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(ticks) / clockTicks / wall.Seconds()
}

// procCPU is one process's CPU time so far, in ticks.
type procCPU struct {
	comm  string
	ppid  int
	ticks uint64
}

// readProcCPU reads the CPU time (user+system) of every process.
func readProcCPU() map[int]procCPU {
	out := map[int]procCPU{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15): comm may hold spaces.
		text := string(raw)
		open, end := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(text[end+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		ppid, _ := strconv.Atoi(f[1])
		out[pid] = procCPU{comm: text[open+1 : end], ppid: ppid, ticks: u + st}
	}
	return out
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// processCPU is this process's user+system CPU time so far.
func processCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// childrenCPU is the CPU time of the child processes waited for so far.
func childrenCPU() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveMemory is the heap and stack in use after a full collection: what
// the live objects and goroutines hold.
type liveMemory struct {
	HeapInuse, HeapAlloc, StackInuse uint64
	Goroutines                       int
}

func measureLive() liveMemory {
	// Two cycles: the first may leave finalizers' garbage for the second.
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return liveMemory{HeapInuse: m.HeapInuse, HeapAlloc: m.HeapAlloc, StackInuse: m.StackInuse, Goroutines: runtime.NumGoroutine()}
}

// cpuStat is the machine's CPU time from /proc/stat, in clock ticks.
type cpuStat struct{ total, idle, irq, steal uint64 }

func readCPUStat() cpuStat {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuStat{}
	}
	var st cpuStat
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		st.total += n
		switch i {
		case 3, 4: // idle, iowait
			st.idle += n
		case 5, 6: // irq, softirq
			st.irq += n
		case 7:
			st.steal += n
		}
	}
	return st
}

// coresSince converts ticks of all CPUs since then into CPUs in use.
func (s cpuStat) coresSince(then cpuStat, ticks uint64) float64 {
	total := float64(s.total - then.total)
	if total <= 0 {
		return 0
	}
	return float64(ticks) / total * float64(runtime.NumCPU())
}

// busyCoresSince is how many CPUs were busy on average since then.
func (s cpuStat) busyCoresSince(then cpuStat) float64 {
	total := float64(s.total - then.total)
	if total <= 0 {
		return 0
	}
	return (total - float64(s.idle-then.idle)) / total * float64(runtime.NumCPU())
}

// loadAverage is the machine's 1-minute load average, or "" if unknown.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
