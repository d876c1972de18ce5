package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"rlhf/feedback"
	"rlhf/loop"
	"rlhf/model/gpt"
	"rlhf/progress"
	"rlhf/reward"
	"rlhf/store"
	"rlhf/text"
)

// defaultPolicy is the shipped pretrained model.
const defaultPolicy = "models/tiny-gpt"

// prefsConfig is everything that determines a synthetic preference file.
type prefsConfig struct {
	Policy      string  `json:"policy"`       // model directory to sample from
	Out         string  `json:"out"`          // JSONL file to write
	Count       int     `json:"count"`        // prompts (one comparison each)
	K           int     `json:"k"`            // completions per prompt
	Format      string  `json:"format"`       // "pairs" or "bestof"
	Goal        string  `json:"goal"`         // "sentiment", "lipogram" or "rm:DIR"
	Letter      string  `json:"letter"`       // the lipogram's banned letter
	Beta        float64 `json:"beta"`         // Boltzmann temperature of the labeler (0: perfect)
	Epsilon     float64 `json:"epsilon"`      // probability of a uniformly random answer
	Temperature float64 `json:"temperature"`  // sampling temperature
	TopK        int     `json:"top_k"`        // sampling top-k (0: off)
	MaxNew      int     `json:"max_new"`      // new tokens per completion
	Seed        uint64  `json:"seed"`         // prompt order, sampling and labels
	Split       string  `json:"split"`        // prompt split: "train" or "val"
	Run         string  `json:"run"`          // run name on the records' provenance
	Batch       int     `json:"sample_batch"` // rows per sampling batch
	// Labeler is "synthetic" (the goal above) or loop.LabelerHuman (people,
	// through the label store and `rlhf serve`).
	Labeler string `json:"labeler"`
	// DB is the label store of a human-labelled file (password hidden in the
	// saved config); Instructions are what people are told.
	DB           string        `json:"db,omitempty"`
	Instructions string        `json:"instructions,omitempty"`
	Poll         time.Duration `json:"-"` // how often to look for people's labels
	// Overlap is how many people label each group (-labeler human); every
	// person's answer is written as its own records.
	Overlap int `json:"overlap,omitempty"`
	// QueryPrefix starts each group's query id ("<prefix>-<i>"; default
	// Run), so that several rounds of one store run ask distinct groups.
	QueryPrefix string `json:"query_prefix,omitempty"`
	// Cmd names the command in what askPeople reports (default "prefs").
	Cmd string `json:"-"`
}

// labelerSynthetic is the -labeler value of the synthetic labeler.
const labelerSynthetic = "synthetic"

// defaultTextInstructions is what people labelling completions are told by
// default.
const defaultTextInstructions = "Pick the completion that continues the prompt better: more fluent, more coherent, " +
	"more on topic. Choose Tie if they are equally good and Can't tell if you cannot judge."

// humanOnlyFlags and syntheticOnlyFlags are the flags that make sense for
// one kind of -labeler only.
var (
	humanOnlyFlags     = []string{"db", "instructions", "label-poll", "overlap"}
	syntheticOnlyFlags = []string{"goal", "letter", "beta", "epsilon"}
)

// flagsSet returns the names of the flags given on fs.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// misplacedLabelerFlags returns the flags set on fs ("-name") that belong
// to the other kind of labeler than labeler: humanOnlyFlags (and a judge's
// flags, which help people) with the synthetic one, syntheticOnly with
// people.
func misplacedLabelerFlags(fs *flag.FlagSet, labeler string, syntheticOnly []string) []string {
	var out []string
	fs.Visit(func(f *flag.Flag) {
		people := slices.Contains(humanOnlyFlags, f.Name) || slices.Contains(judgeFlagNames, f.Name)
		if labeler == loop.LabelerHuman && slices.Contains(syntheticOnly, f.Name) || labeler == labelerSynthetic && people {
			out = append(out, "-"+f.Name)
		}
	})
	return out
}

func (c prefsConfig) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("prefs: "+format, args...))
		}
	}
	check(c.Out != "", "-out names no file")
	check(c.Count > 0, "-n %d must be positive", c.Count)
	check(c.K >= 2 && c.K <= feedback.MaxItems, "-k %d must be in [2, %d]", c.K, feedback.MaxItems)
	check(c.Format == "pairs" || c.Format == "bestof", "-format %q: want pairs or bestof", c.Format)
	err := checkTextGoal(c.Goal, c.Letter)
	check(err == nil, "%v", err)
	check(c.Beta >= 0, "-beta %g must be >= 0", c.Beta)
	check(c.Epsilon >= 0 && c.Epsilon <= 1, "-epsilon %g must be in [0, 1]", c.Epsilon)
	check(c.Temperature > 0, "-temperature %g must be positive", c.Temperature)
	check(c.TopK >= 0, "-top-k %d must be >= 0", c.TopK)
	check(c.MaxNew > 0, "-max-new-tokens %d must be positive", c.MaxNew)
	check(c.Split == "train" || c.Split == "val", "-split %q: want train or val", c.Split)
	check(c.Batch > 0, "-sample-batch %d must be positive", c.Batch)
	check(c.Labeler == labelerSynthetic || c.Labeler == loop.LabelerHuman, "-labeler %q: want %s or %s", c.Labeler, labelerSynthetic, loop.LabelerHuman)
	check(c.Poll > 0, "-label-poll %v must be positive", c.Poll)
	check(c.Overlap >= 1 && c.Overlap <= 100, "-overlap %d must be in 1..100", c.Overlap)
	return errors.Join(errs...)
}

// textGoal returns the goal named by spec (loop.TextGoal): sentiment,
// lipogram (avoiding letter, which must be one letter) or rm:DIR, a gold
// reward model.
func textGoal(spec, letter string) (reward.TextScorer, error) {
	if err := checkTextGoal(spec, letter); err != nil {
		return nil, err
	}
	g, err := loop.TextGoal(spec, firstRune(letter))
	if err != nil {
		return nil, fmt.Errorf("goal %q: want sentiment, lipogram or rm:DIR: %w", spec, err)
	}
	return g, nil
}

// checkTextGoal is textGoal's checks without loading a reward model's
// weights (loop.CheckTextGoal), for flag validation.
func checkTextGoal(spec, letter string) error {
	if spec == loop.GoalLipogram && len([]rune(letter)) != 1 {
		return fmt.Errorf("-letter %q: want one letter", letter)
	}
	if err := loop.CheckTextGoal(spec, firstRune(letter)); err != nil {
		return fmt.Errorf("goal %q: want sentiment, lipogram or rm:DIR: %w", spec, err)
	}
	return nil
}

// goalLabel names a goal for provenance: "sentiment-vader", "lipogram-e"
// or the reward model's "rm:DIR".
func goalLabel(name, letter string) string {
	switch name {
	case loop.GoalSentiment:
		return "sentiment-vader"
	case loop.GoalLipogram:
		return "lipogram-" + strings.ToLower(letter)
	}
	return name
}

// runPrefs is `rlhf prefs`: sample completions from a policy and label them
// with a synthetic labeler or by people, writing preference JSONL.
func runPrefs(ctx context.Context, args []string) error {
	return prefsMain(ctx, args, os.Stderr)
}

func prefsMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("prefs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rlhf prefs [flags]\n\nSample k completions of each of -n prompts from a policy, label each group with a synthetic\nlabeler (a Boltzmann-rational chooser on a goal score, plus uniformly random answers with\nprobability -epsilon) and write preference JSONL: TRL pairs {\"prompt\",\"chosen\",\"rejected\"}\nor best-of-k records {\"prompt\",\"completions\",\"choice\"}, with provenance. Ties (equal goal\nscores) are dropped, as neither format holds them.\n\nWith -labeler human the groups go to people instead: they are posted to the label store -db,\nthe labeling app (`rlhf serve -db ...`) shows them, and each answer is appended to -out as it\narrives (ties, can't-tell and skips are counted, not written). Interrupt at any time; the same\ncommand continues where it stopped, asking nothing twice.\n\nFlags:")
		fs.PrintDefaults()
	}
	c := prefsConfig{}
	fs.StringVar(&c.Policy, "policy", defaultPolicy, "policy model directory to sample from")
	fs.StringVar(&c.Out, "out", "prefs.jsonl", "JSONL file to write")
	fs.IntVar(&c.Count, "n", 1000, "prompts to sample, one comparison each")
	fs.IntVar(&c.K, "k", 2, "completions per prompt (Ziegler et al. 2019 use 4)")
	fs.StringVar(&c.Format, "format", "pairs", "output format: pairs (k > 2 gives k-1 pairs per prompt) or bestof")
	fs.StringVar(&c.Labeler, "labeler", labelerSynthetic, "who labels: synthetic (the -goal below) or human (people, through `rlhf serve` on -db)")
	fs.StringVar(&c.DB, "db", "", "label store of -labeler human: sqlite:///path/labels.db, a file path, or postgres://... (default: SQLite labels.db next to -out)")
	fs.StringVar(&c.Instructions, "instructions", defaultTextInstructions, "what people labelling with -labeler human are told to prefer")
	fs.DurationVar(&c.Poll, "label-poll", time.Second, "how often -labeler human looks for new labels")
	fs.IntVar(&c.Overlap, "overlap", 1, "how many different people label each group with -labeler human (each answer is written)")
	fs.StringVar(&c.Goal, "goal", "sentiment", "the synthetic labeler's hidden goal: sentiment (VADER compound), lipogram or rm:DIR (a gold reward model's score of prompt and completion)")
	fs.StringVar(&c.Letter, "letter", "e", "the letter a lipogram avoids")
	fs.Float64Var(&c.Beta, "beta", 0.1, "Boltzmann temperature of the synthetic labeler in goal units (0: always the best)")
	fs.Float64Var(&c.Epsilon, "epsilon", 0.05, "probability that the synthetic labeler answers uniformly at random")
	fs.Float64Var(&c.Temperature, "temperature", 1, "sampling temperature")
	fs.IntVar(&c.TopK, "top-k", 0, "sampling top-k (0: off)")
	fs.IntVar(&c.MaxNew, "max-new-tokens", 24, "new tokens per completion")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the prompt order, the samples and the labels")
	fs.StringVar(&c.Split, "split", "train", "prompt split: train or val")
	fs.StringVar(&c.Run, "run", "", "run name in the records' provenance and the label store's run id (default prefs-<seed>)")
	fs.IntVar(&c.Batch, "sample-batch", 64, "rows per sampling batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("prefs: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if misplaced := misplacedLabelerFlags(fs, c.Labeler, syntheticOnlyFlags); len(misplaced) > 0 {
		return fmt.Errorf("prefs: %s not used with -labeler %s (synthetic labeler: %s; people: %s)", strings.Join(misplaced, ", "), c.Labeler,
			"-"+strings.Join(syntheticOnlyFlags, ", -"), "-"+strings.Join(humanOnlyFlags, ", -"))
	}
	if c.Run == "" {
		c.Run = fmt.Sprintf("prefs-%d", c.Seed)
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Labeler == loop.LabelerHuman {
		if err := prefsHuman(ctx, c, stderr); !errors.Is(err, loop.ErrStopped) {
			return err
		}
		return nil // an admin's stop: askPeople said how to continue
	}
	c.Instructions = ""
	return prefs(ctx, c, stderr)
}

// loadPolicy loads a model directory and its tokenizer.
func loadPolicy(dir string) (*gpt.Model, *text.Tokenizer, error) {
	m, err := gpt.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := gpt.LoadTokenizer(dir, m.Config)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// pickPrompts returns n prompts of split in an order shuffled by seed
// (cycling through the list if n exceeds it).
func pickPrompts(split string, n int, seed uint64) ([]string, error) {
	all, err := text.Prompts(split)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no %s prompts", split)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9a0))
	perm := rng.Perm(len(all))
	out := make([]string, n)
	for i := range out {
		out[i] = all[perm[i%len(all)]]
	}
	return out, nil
}

// encodePrompt tokenises a prompt and keeps its last tokens so that room
// stays for maxNew new ones; an empty prompt becomes the end-of-text token.
func encodePrompt(tok *text.Tokenizer, cfg gpt.Config, p string, maxNew int) []int {
	ids := tok.Encode(p)
	if len(ids) == 0 {
		ids = []int{cfg.EOSTokenID}
	}
	if keep := cfg.NPositions - maxNew; len(ids) > keep {
		ids = ids[len(ids)-max(keep, 1):]
	}
	return ids
}

// completionText decodes sampled tokens, without a final end-of-text token.
func completionText(tok *text.Tokenizer, eos int, ids []int) string {
	if n := len(ids); n > 0 && ids[n-1] == eos {
		ids = ids[:n-1]
	}
	return tok.Decode(ids)
}

// sampleCompletions draws k completions of each prompt (row i·k+j seeded by
// seed, i and j alone) and returns them as text, prompt-major.
func sampleCompletions(ctx context.Context, m *gpt.Model, tok *text.Tokenizer, prompts []string, k int, sc gpt.SampleConfig, batch int, bar *progress.Bar) ([][]string, error) {
	if sc.MaxNewTokens >= m.Config.NPositions {
		return nil, fmt.Errorf("%d new tokens leave no room for a prompt in the model's %d positions", sc.MaxNewTokens, m.Config.NPositions)
	}
	out := make([][]string, len(prompts))
	var rows [][]int
	var seeds []uint64
	var owner []int
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		c := sc
		c.Seeds = seeds
		s, err := m.Sample(ctx, rows, c)
		if err != nil {
			return err
		}
		for r, toks := range s.Tokens {
			out[owner[r]] = append(out[owner[r]], completionText(tok, m.Config.EOSTokenID, toks))
		}
		if bar != nil {
			bar.Add(len(rows) / k)
		}
		rows, seeds, owner = rows[:0], seeds[:0], owner[:0]
		return nil
	}
	for i, p := range prompts {
		ids := encodePrompt(tok, m.Config, p, sc.MaxNewTokens)
		for j := range k {
			rows = append(rows, ids)
			seeds = append(seeds, sc.Seed*0x9e3779b97f4a7c15+uint64(i)*64+uint64(j))
			owner = append(owner, i)
		}
		if len(rows) >= batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// sampleGroups loads the policy, picks c.Count prompts and samples c.K
// completions of each: the text queries of a preference file, with ids
// "<run>-<i>" and their sampling provenance. The same config gives the same
// queries.
func sampleGroups(ctx context.Context, c prefsConfig, w io.Writer) ([]feedback.Query, error) {
	m, tok, err := loadPolicy(c.Policy)
	if err != nil {
		return nil, fmt.Errorf("prefs: policy: %w", err)
	}
	prompts, err := pickPrompts(c.Split, c.Count, c.Seed)
	if err != nil {
		return nil, fmt.Errorf("prefs: %w", err)
	}
	bar := progress.New(w, c.Count, "sample")
	comps, err := sampleCompletions(ctx, m, tok, prompts, c.K,
		gpt.SampleConfig{MaxNewTokens: c.MaxNew, Temperature: c.Temperature, TopK: c.TopK, StopAtEOS: true, Seed: c.Seed}, c.Batch, bar)
	bar.Finish()
	if err != nil {
		return nil, fmt.Errorf("prefs: sample: %w", err)
	}
	sampler := map[string]any{"temperature": c.Temperature, "top_k": c.TopK, "max_new_tokens": c.MaxNew, "seed": c.Seed,
		"policy": c.Policy}
	prefix := c.Run
	if c.QueryPrefix != "" {
		prefix = c.QueryPrefix
	}
	qs := make([]feedback.Query, len(prompts))
	for i, p := range prompts {
		q := feedback.TextQuery(fmt.Sprintf("%s-%d", prefix, i), p, comps[i]...)
		q.Run, q.Sampler, q.PolicyVersion = c.Run, sampler, filepath.Base(c.Policy)
		qs[i] = q
	}
	// A completion can end inside a multi-byte character: label (and, with
	// people, post and compare) the text the JSONL file and the label store
	// will hold, so that a rerun recognises what it wrote.
	loop.JSONTextQueries(qs)
	return qs, nil
}

// prefs samples, labels and writes one preference file, reporting to w.
func prefs(ctx context.Context, c prefsConfig, w io.Writer) error {
	goal, err := textGoal(c.Goal, c.Letter)
	if err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	name := goalLabel(c.Goal, c.Letter)
	fmt.Fprintf(w, "prefs: %d prompts x %d completions from %s (T=%g, %d new tokens), labeler %s, epsilon %g -> %s\n",
		c.Count, c.K, c.Policy, c.Temperature, c.MaxNew, name, c.Epsilon, c.Out)
	qs, err := sampleGroups(ctx, c, w)
	if err != nil {
		return err
	}
	score, err := loop.GoalItemsOf(goal, qs) // a reward model as the goal scores in batches
	if err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	labeler := feedback.Noisy{
		Labeler: feedback.Boltzmann{Score: score, Beta: c.Beta, Seed: c.Seed,
			Name: fmt.Sprintf("%s/boltzmann(beta=%g)", name, c.Beta)},
		Epsilon: c.Epsilon, Seed: c.Seed + 1,
	}
	var pairs []feedback.PairRecord
	var bestOf []feedback.BestOfRecord
	ties, random, agree := 0, 0, 0
	for i, q := range qs {
		lab, err := labeler.Label(ctx, q)
		if err != nil {
			return fmt.Errorf("prefs: label prompt %d: %w", i, err)
		}
		if lab.Note == "random" {
			random++
		}
		if !lab.Choice.IsIndex() {
			ties++
			continue
		}
		if bestItem(q, score) == int(lab.Choice) {
			agree++
		}
		if c.Format == "pairs" {
			pairs = append(pairs, feedback.PairRecords(q, lab)...)
		} else if r, ok := feedback.BestOfRecordOf(q, lab); ok {
			bestOf = append(bestOf, r)
		}
	}
	if dir := filepath.Dir(c.Out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("prefs: %w", err)
		}
	}
	var n int
	if c.Format == "pairs" {
		n, err = feedback.WriteFile(c.Out, seqOf(pairs))
	} else {
		n, err = feedback.WriteFile(c.Out, seqOf(bestOf))
	}
	if err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	js, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(c.Out+".run.json", append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	fmt.Fprintf(w, "prefs: wrote %d %s records to %s (%d prompts dropped as ties, %d answered at random)\n",
		n, c.Format, c.Out, ties, random)
	if labelled := c.Count - ties; labelled > 0 {
		fmt.Fprintf(w, "prefs: the label picks the goal's best completion in %.1f%% of %d labelled prompts (the accuracy a perfect reward model would score)\n",
			100*float64(agree)/float64(labelled), labelled)
	}
	return nil
}

// prefsHuman samples the groups like prefs, asks people about them through
// the label store and appends each answer to c.Out as it arrives, reporting
// to w.
func prefsHuman(ctx context.Context, c prefsConfig, w io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(c.Out), 0o755); err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	dbURL := c.DB
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(filepath.Dir(c.Out), "labels.db")
	}
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("prefs: -db: %w", err)
	}
	defer s.Close()
	c.DB = redactURL(dbURL)
	fmt.Fprintf(w, "prefs: %d prompts x %d completions from %s (T=%g, %d new tokens), labelled by people through %s -> %s\n",
		c.Count, c.K, c.Policy, c.Temperature, c.MaxNew, c.DB, c.Out)
	qs, err := sampleGroups(ctx, c, w) // the text as the store and the JSONL hold it
	if err != nil {
		return err
	}
	h, err := loop.NewHumanLabeler(ctx, s, c.Run, "prefs "+c.Run, c.Instructions)
	if err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	h.Poll, h.Overlap = c.Poll, c.Overlap
	err = askPeople(ctx, c, h, qs, w)
	if serr := s.SetRunState(context.WithoutCancel(ctx), c.Run, store.RunStopped); serr != nil {
		err = errors.Join(err, fmt.Errorf("prefs: mark run %s stopped: %w", c.Run, serr))
	}
	return err
}

// peopleCounts tallies people's labels on a run's groups.
type peopleCounts struct {
	Answered, Written, Kept, Ties, CantTell, Skips, Invalid int
}

func (n peopleCounts) String() string {
	s := fmt.Sprintf("%d records written", n.Written)
	if n.Kept > 0 {
		s += fmt.Sprintf(" and %d already in the file", n.Kept)
	}
	return s + fmt.Sprintf(", %d ties, %d can't tell, %d skips", n.Ties, n.CantTell, n.Skips)
}

// askPeople posts qs through h (none twice: a rerun finds the queries of
// the run before it), and appends each answered group to c.Out (fsynced per
// record) in c.Format with the person's provenance. Records already in c.Out
// from an earlier run of the same command are not written again. Ties,
// can't-tell answers and skips are counted, not written. An admin's stop
// is an error wrapping loop.ErrStopped, ctx's end one saying how to
// continue; both are reported to w.
func askPeople(ctx context.Context, c prefsConfig, h *loop.HumanLabeler, qs []feedback.Query, w io.Writer) error {
	cmd := c.Cmd
	if cmd == "" {
		cmd = "prefs"
	}
	have, err := writtenRecords(c, qs)
	if err != nil {
		return err
	}
	js, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(c.Out+".run.json", append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("prefs: %w", err)
	}
	write, closeOut, err := openPeopleOut(c.Out, c.Format, have)
	if err != nil {
		return err
	}
	defer closeOut()
	overlap := max(c.Overlap, 1)
	fmt.Fprintf(w, "%s: run %s asks people about %d groups; serve them with:\n  rlhf serve -db %s -run %s\n", cmd, c.Run, len(qs), c.DB, c.Run)
	if overlap > 1 {
		fmt.Fprintf(w, "%s: %d different people answer each group; every answer is written\n", cmd, overlap)
	}
	bar := progress.New(w, overlap*len(qs), "answers")
	var n peopleCounts
	choices := map[string][]feedback.Choice{} // each group's answers, in order
	var picks []feedback.Answer               // each person's pick of a group, for the one-coin fit
	var askErr error
	for a, err := range h.AskText(ctx, qs) {
		if err != nil {
			askErr = err
			break
		}
		if a.Label.Choice != feedback.Skip {
			choices[a.Query.ID] = append(choices[a.Query.ID], a.Label.Choice)
		}
		if k := len(a.Query.Items); a.Label.Choice.ValidFor(k) && a.Label.Choice.IsIndex() && a.Label.Labeler != "" {
			picks = append(picks, feedback.Answer{Group: a.Query.ID, Labeler: a.Label.Labeler, Pick: int(a.Label.Choice), K: k})
		}
		switch ch := a.Label.Choice; {
		case ch == feedback.Skip:
			n.Skips++
		case ch == feedback.Tie:
			n.Ties++
		case ch == feedback.CantTell:
			n.CantTell++
		case !ch.ValidFor(len(a.Query.Items)):
			n.Invalid++
		}
		if a.Label.Choice != feedback.Skip {
			n.Answered++
		}
		written, kept, err := write(a.Query, a.Label)
		n.Written += written
		n.Kept += kept
		if err != nil {
			bar.Finish()
			return err
		}
		bar.SetStatus(n.String())
		if a.Label.Choice != feedback.Skip {
			bar.Add(1)
		}
	}
	bar.Finish()
	groups := 0
	for _, cs := range choices {
		if len(cs) >= overlap {
			groups++
		}
	}
	summary := fmt.Sprintf("%d of %d groups answered by people (%s", groups, len(qs), n)
	if overlap > 1 {
		summary = fmt.Sprintf("%d of %d groups answered by %d people each (%d answers: %s", groups, len(qs), overlap, n.Answered, n)
	}
	if n.Invalid > 0 {
		summary += fmt.Sprintf(", %d out of range", n.Invalid)
	}
	summary += ")"
	if agree, pairs := agreement(choices); pairs > 0 {
		summary += fmt.Sprintf("; two people's answers to the same group agree in %d of %d pairs (%.0f%%)", agree, pairs, 100*float64(agree)/float64(pairs))
		if c, err := feedback.EstimateConsensus(picks, feedback.ConsensusOptions{}); err == nil {
			summary += fmt.Sprintf("; from that alone (one-coin model) people pick against the group's best %.1f%% of the time", 100*c.ErrorRate())
		}
	}
	switch {
	case askErr == nil:
		fmt.Fprintf(w, "%s: %s; %s holds every answered group (ties and can't-tell are not in the %s format)\n", cmd, summary, c.Out, c.Format)
		return nil
	case errors.Is(askErr, loop.ErrStopped):
		fmt.Fprintf(w, "%s: run %s stopped by an admin: %s; run the same command again to continue\n", cmd, c.Run, summary)
		return fmt.Errorf("prefs: %w", askErr)
	case ctx.Err() != nil:
		fmt.Fprintf(w, "%s: interrupted: %s; %s keeps every answer so far; run the same command again to continue\n", cmd, summary, c.Out)
		return fmt.Errorf("prefs: interrupted with %d of %d groups answered (rerun to continue): %w", groups, len(qs), ctx.Err())
	}
	return fmt.Errorf("prefs: %w", askErr)
}

// agreement counts, over the pairs of answers that two people gave to the
// same group, how many agree (the same choice; ties and can't-tell count as
// choices) and how many pairs there are.
func agreement(choices map[string][]feedback.Choice) (agree, pairs int) {
	for _, cs := range choices {
		for i := range cs {
			for j := i + 1; j < len(cs); j++ {
				pairs++
				if cs[i] == cs[j] {
					agree++
				}
			}
		}
	}
	return agree, pairs
}

// openPeopleOut opens path for appending answered groups in format
// ("pairs" or "bestof", fsynced per record). write appends the records of
// one answer (none for a tie, can't-tell or skip) except those already in
// have, which it uses up, and returns how many it wrote and how many it
// found there.
func openPeopleOut(path, format string, have map[string]int) (write func(feedback.Query, feedback.Label) (written, kept int, err error), closeOut func() error, err error) {
	if format == "bestof" {
		app, err := feedback.OpenAppender[feedback.BestOfRecord](path)
		if err != nil {
			return nil, nil, fmt.Errorf("prefs: %w", err)
		}
		app.Sync = true
		write = func(q feedback.Query, l feedback.Label) (int, int, error) {
			r, ok := feedback.BestOfRecordOf(q, l)
			if !ok {
				return 0, 0, nil
			}
			if have[r.QueryID] > 0 {
				have[r.QueryID]--
				return 0, 1, nil
			}
			if err := app.Append(r); err != nil {
				return 0, 0, fmt.Errorf("prefs: %w", err)
			}
			return 1, 0, nil
		}
		return write, app.Close, nil
	}
	app, err := feedback.OpenAppender[feedback.PairRecord](path)
	if err != nil {
		return nil, nil, fmt.Errorf("prefs: %w", err)
	}
	app.Sync = true
	write = func(q feedback.Query, l feedback.Label) (written, kept int, err error) {
		for _, r := range feedback.PairRecords(q, l) {
			if k := pairKey(r); have[k] > 0 {
				have[k]--
				kept++
				continue
			}
			if err := app.Append(r); err != nil {
				return written, kept, fmt.Errorf("prefs: %w", err)
			}
			written++
		}
		return written, kept, nil
	}
	return write, app.Close, nil
}

// pairKey identifies a pair record of a human-labelled file.
func pairKey(r feedback.PairRecord) string {
	return r.QueryID + "\x00" + r.Chosen + "\x00" + r.Rejected
}

// writtenRecords reads the records an earlier run of the same command
// appended to c.Out (none if it does not exist) and returns how many of each
// it holds, keyed as askPeople writes them. A torn last line (a crash while
// appending) is passed over; records that are not people's answers to qs
// are an error, so that a file of another run is not appended to.
func writtenRecords(c prefsConfig, qs []feedback.Query) (map[string]int, error) {
	have := map[string]int{}
	if _, err := os.Stat(c.Out); errors.Is(err, os.ErrNotExist) {
		return have, nil
	}
	prompt := make(map[string]string, len(qs))
	for _, q := range qs {
		prompt[q.ID] = q.Items[0].Prompt
	}
	check := func(p feedback.Provenance, pr string) error {
		if p.Source != feedback.SourceHuman {
			return fmt.Errorf("prefs: %s holds a record of query %q not labelled by people (source %q); choose another -out", c.Out, p.QueryID, p.Source)
		}
		if want, ok := prompt[p.QueryID]; !ok || want != pr || p.Run != c.Run {
			return fmt.Errorf("prefs: %s holds a record of query %q that this command does not ask (run %q); was it written with other -run, -seed, -n or -policy? choose another -out", c.Out, p.QueryID, p.Run)
		}
		return nil
	}
	opt := &feedback.ReadOptions{SkipBad: true}
	if c.Format == "pairs" {
		for r, err := range feedback.ReadPairsFile(c.Out, opt) {
			if err != nil {
				return nil, fmt.Errorf("prefs: resume: %w", err)
			}
			if err := check(r.Provenance, r.Prompt); err != nil {
				return nil, err
			}
			have[pairKey(r)]++
		}
	} else {
		for r, err := range feedback.ReadBestOfFile(c.Out, opt) {
			if err != nil {
				return nil, fmt.Errorf("prefs: resume: %w", err)
			}
			if err := check(r.Provenance, r.Prompt); err != nil {
				return nil, err
			}
			have[r.QueryID]++
		}
	}
	if opt.Skipped > 1 {
		return nil, fmt.Errorf("prefs: %s has %d lines that are not %s records (at most one torn last line is expected); choose another -out", c.Out, opt.Skipped, c.Format)
	}
	return have, nil
}

// bestItem returns the index of q's highest-scoring item (the first of equals).
func bestItem(q feedback.Query, score feedback.ScoreFunc) int {
	bi, bs := 0, score(q.Items[0])
	for i, it := range q.Items[1:] {
		if s := score(it); s > bs {
			bi, bs = i+1, s
		}
	}
	return bi
}

// seqOf yields the elements of s.
func seqOf[T any](s []T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, v := range s {
			if !yield(v) {
				return
			}
		}
	}
}

// textComparison is a labelled comparison read from a preference file.
type textComparison struct {
	Prompt      string
	Completions []string
	Choice      int
	Confidence  *float64 // the record's, if it states one (an AI judge's)
	// QueryID and Labeler are the record's provenance, if it states them
	// (-aggregate vote combines the answers to one query).
	QueryID, Labeler string
}

// sniffFormat returns "bestof" if the first record of path has a
// "completions" field and "pairs" otherwise (a malformed first line is
// reported by the pairs reader with its line number).
func sniffFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var first map[string]json.RawMessage
	if err := dec.Decode(&first); err == nil {
		if _, ok := first["completions"]; ok {
			return "bestof", nil
		}
	}
	return "pairs", nil
}

// readPrefs reads a preference file in either format. A malformed line is
// an error naming the file and line unless skipBad is set, when it is
// counted in skipped.
func readPrefs(path string, skipBad bool) (cs []textComparison, format string, skipped int, err error) {
	format, err = sniffFormat(path)
	if err != nil {
		return nil, "", 0, err
	}
	opt := &feedback.ReadOptions{SkipBad: skipBad}
	if format == "bestof" {
		for r, err := range feedback.ReadBestOfFile(path, opt) {
			if err != nil {
				return nil, format, 0, err
			}
			cs = append(cs, textComparison{Prompt: r.Prompt, Completions: r.Completions, Choice: r.Choice, Confidence: r.Confidence,
				QueryID: r.QueryID, Labeler: r.Labeler})
		}
	} else {
		for r, err := range feedback.ReadPairsFile(path, opt) {
			if err != nil {
				return nil, format, 0, err
			}
			cs = append(cs, textComparison{Prompt: r.Prompt, Completions: []string{r.Chosen, r.Rejected}, Choice: 0, Confidence: r.Confidence,
				QueryID: r.QueryID, Labeler: r.Labeler})
		}
	}
	if len(cs) == 0 {
		return nil, format, opt.Skipped, fmt.Errorf("%s holds no %s records", path, format)
	}
	return cs, format, opt.Skipped, nil
}

// splitByPrompt puts each comparison in the held-out set with probability
// about valFrac, deciding by a hash of its prompt and seed so that all
// comparisons of one prompt fall on the same side.
func splitByPrompt(cs []textComparison, valFrac float64, seed uint64) (train, val []textComparison) {
	for _, c := range cs {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d|%s", seed, c.Prompt)
		if float64(h.Sum64()%1_000_000)/1e6 < valFrac {
			val = append(val, c)
		} else {
			train = append(train, c)
		}
	}
	return train, val
}
