package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/konnector-hooks/konnector-hooks/konnector"
	"github.com/konnector-hooks/konnector-hooks/kube"
)

// version is stamped by `make build` and `make release` (-ldflags -X main.version=...).
var version = "dev"

// command is one subcommand: the first argument names it.
type command struct {
	name, args, summary string
	// run gets the arguments after the name and returns the exit status.
	run func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in usage's order. With no argument the
// binary serves: Knative starts the image that way.
func commands() []command {
	return []command{
		{"sync", "", "run one sync of every served Cluster and print its JSON report (the CronJob runs it); exit 1 when a Cluster failed", runSync},
		{"render", "(<namespace>/<cluster> | <cluster> -n <namespace>) [flags]", "print, credentials redacted, the objects the hooks would write for a Cluster; writes nothing", runRender},
		{"status", "[<namespace>/<cluster> | <cluster> -n <namespace>] [flags]", "show, for one Cluster or every served one, the addon, our objects, the release CAAPH reports, the rollout and our last Events", runStatus},
		{"version", "", "print the version", runVersion},
		{"help", "[command]", "print this help, or a command's", runHelp},
	}
}

// usage writes the binary's usage.
func usage(w io.Writer) {
	fmt.Fprintf(w, `konnector-hooks: the Konnector Agent addon for Cluster API, as CAPI Runtime SDK hooks.

Usage:
  konnector-hooks                 serve the hooks on $PORT (default 8080); FUNCTION_TARGET (Hooks or Sync) picks the function
  konnector-hooks <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'konnector-hooks help <command>' for a command's flags.")
}

func findCommand(name string) (command, bool) {
	all := commands()
	i := slices.IndexFunc(all, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return all[i], true
}

// dispatch runs the command args name and returns the exit status: 0 for
// help asked for (on stdout), 2 with the usage on stderr for a bad argument.
func dispatch(args []string, stdout, stderr io.Writer) int {
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "konnector-hooks: unknown command or flag %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	if code, done := parse(newFlags("version", stdout, stderr), args, stdout); done {
		return code
	}
	fmt.Fprintln(stdout, "konnector-hooks", version)
	return 0
}

func runHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return 0
	case len(args) > 1:
		fmt.Fprintf(stderr, "konnector-hooks help: one command at most, got %q\n\n", args)
		usage(stderr)
		return 2
	}
	if _, ok := findCommand(args[0]); !ok {
		fmt.Fprintf(stderr, "konnector-hooks help: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return dispatch([]string{args[0], "--help"}, stdout, stderr)
}

// newFlags is the flag set of a command; it prints no usage itself (parse does).
func newFlags(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("konnector-hooks "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

// printUsage writes the usage of the command fs parses to w.
func printUsage(fs *flag.FlagSet, w io.Writer) {
	c, _ := findCommand(strings.TrimPrefix(fs.Name(), "konnector-hooks "))
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n", c.summary, strings.TrimSpace(fs.Name()+" "+c.args))
	var flags strings.Builder
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	fs.SetOutput(w)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", flags.String())
	}
}

// parse parses args with fs, flags and arguments in any order as kubectl
// takes them. done is set when the command must stop with code: 0 after -h
// (the usage on stdout), 2 after a bad flag (the usage on stderr).
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	stderr := fs.Output()
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(fs, stdout)
				return 0, true
			}
			fmt.Fprintln(stderr)
			printUsage(fs, stderr)
			return 2, true
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	fs.SetOutput(stderr)
	// Leave the positional arguments for the command to read.
	_ = fs.Parse(append([]string{"--"}, positional...))
	return 0, false
}

// kubeFlags are kubectl's flags for the management cluster and the Cluster.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func (k *kubeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else the in-cluster configuration, else ~/.kube/config)")
	fs.StringVar(&k.context, "context", "", "the kubeconfig context to use")
	fs.StringVar(&k.namespace, "namespace", "", "the namespace of the Cluster")
	fs.StringVar(&k.namespace, "n", "", "short for --namespace")
}

// opener is the management cluster the flags name.
func (k *kubeFlags) opener() *kube.Opener {
	if k.kubeconfig == "" && k.context == "" {
		return kube.FromEnvironment()
	}
	return kube.FromKubeconfig(k.kubeconfig, k.context)
}

// cluster reads the Cluster an argument names: <namespace>/<name>, or a
// name with -n.
func (k *kubeFlags) cluster(arg string) (types.NamespacedName, error) {
	if key, ok := konnector.ParseKey(arg); ok {
		if k.namespace != "" && k.namespace != key.Namespace {
			return types.NamespacedName{}, fmt.Errorf("%q names namespace %s, and -n %s another", arg, key.Namespace, k.namespace)
		}
		return key, nil
	}
	if k.namespace == "" || arg == "" || strings.Contains(arg, "/") {
		return types.NamespacedName{}, fmt.Errorf("%q does not name a Cluster: give <namespace>/<cluster>, or <cluster> with -n <namespace>", arg)
	}
	return types.NamespacedName{Namespace: k.namespace, Name: arg}, nil
}

// outputFlag is -o, one of formats, the first the default.
func outputFlag(fs *flag.FlagSet, formats ...string) *string {
	o := formats[0]
	fs.Func("o", fmt.Sprintf("output `format`: %s (default %s)", strings.Join(formats, ", "), formats[0]), func(v string) error {
		if !slices.Contains(formats, v) {
			return fmt.Errorf("use one of %s", strings.Join(formats, ", "))
		}
		o = v
		return nil
	})
	return &o
}

// badArgs writes what is wrong with the arguments and the usage to stderr,
// for exit status 2.
func badArgs(fs *flag.FlagSet, stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n\n", fs.Name(), err)
	printUsage(fs, stderr)
	return 2
}
