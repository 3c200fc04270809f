// Command hooksprobe serves the konnector-hooks functions for diagnosis
// only; the product binary is cmd/konnector-hooks, which the benchmark
// measures. It starts exactly as cmd/konnector-hooks does (functions-framework
// on $PORT, FUNCTION_TARGET Hooks) and, on SIGTERM, writes a CPU profile to
// $BENCH_CPUPROFILE and a heap profile to $BENCH_HEAPPROFILE when set.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	konnectorhooks "github.com/konnector-hooks/konnector-hooks"
	"github.com/konnector-hooks/konnector-hooks/handlers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hooksprobe:", err)
		os.Exit(1)
	}
}

func run() error {
	stopProfiles, err := startProfiles()
	if err != nil {
		return err
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		stopProfiles()
		os.Exit(0)
	}()

	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if os.Getenv("FUNCTION_TARGET") == "" {
		_ = os.Setenv("FUNCTION_TARGET", handlers.FunctionHooks)
	}
	if _, err := konnectorhooks.Setup(); err != nil {
		return err
	}
	return funcframework.Start(port)
}

// startProfiles starts the CPU profile and returns what writes both profiles.
func startProfiles() (func(), error) {
	cpuPath, heapPath := os.Getenv("BENCH_CPUPROFILE"), os.Getenv("BENCH_HEAPPROFILE")
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		cpu = f
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			_ = cpu.Close()
		}
		if heapPath != "" {
			if f, err := os.Create(heapPath); err == nil {
				runtime.GC()
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		}
	}, nil
}
