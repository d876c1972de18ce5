// Command rlhf is the single binary of the rlhf toolkit: learning from human
// feedback for control agents and small language models, end to end.
//
// Usage:
//
//	rlhf <command> [flags]
//
// Run `rlhf help` for the list of commands and `rlhf <command> -h` for the
// flags of one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: a name, a one-line summary and its entry point.
// Each lives in its own file as run<Name>(ctx, args).
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

// commands lists every subcommand; main dispatches with a lookup, nothing more.
var commands = []command{
	{"demo", "run RLHF end to end on the shipped tiny GPT (sentiment, synthetic labels)", runDemo},
	{"pretrain", "train a GPT language model on the shipped corpus", runPretrain},
	{"prefs", "sample completions and label them with a synthetic labeler (preference JSONL)", runPrefs},
	{"rm", "train a GPT reward model from preference JSONL", runRM},
	{"judge", "label text queries with a reward model as a calibrated AI judge; defer the unsure ones to people", runJudge},
	{"ppo", "fine-tune a GPT policy with PPO against a reward model or goal", runPPO},
	{"dpo", "fine-tune a GPT policy with DPO or IPO on preference JSONL", runDPO},
	{"bon", "best-of-n sampling with a reward model or goal", runBoN},
	{"eval", "gold score and KL to the reference of a policy on held-out prompts", runEval},
	{"compare", "plot several runs' metrics on shared axes (mean ± std over seeds with -seeds)", runCompare},
	{"control", "learn control tasks from preferences (PPO + reward ensemble)", runControl},
	{"serve", "run the labeling web app", runServe},
	{"bench", "measure the engine on this machine (rlhf bench engine)", runBench},
	{"version", "print the version and build information", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rlhf:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) (err error) {
	args, stopProfiles, err := startProfiles(args)
	if err != nil {
		usage(stderr)
		return err
	}
	defer func() { err = errors.Join(err, stopProfiles()) }()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q (valid: %s)", args[0], commandNames())
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	sort.Strings(names)
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "rlhf: learning from human feedback, end to end.")
	fmt.Fprintln(w, "\nUsage: rlhf [-cpuprofile FILE] [-memprofile FILE] <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'rlhf <command> -h' for the flags of a command. -cpuprofile and -memprofile write")
	fmt.Fprintln(w, "Go pprof profiles of the whole command (go tool pprof FILE).")
}
