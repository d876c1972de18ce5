package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"rlhf/feedback"
	"rlhf/judge"
	"rlhf/model/gpt"
	"rlhf/ppo"
	"rlhf/progress"
	"rlhf/report"
	"rlhf/reward"
	"rlhf/text"
)

// TextConfig is everything that determines a language RLHF run (RunText).
type TextConfig struct {
	// Policy is the directory of the pretrained GPT (model.safetensors +
	// config.json); the reward model is initialised from it too.
	Policy string `json:"policy"`
	// Goal is the hidden goal of the synthetic labeler ("sentiment",
	// "lipogram" or "rm:DIR", a gold reward model; see TextGoal) and the
	// gold score of the evaluation.
	Goal string `json:"goal"`
	// Letter is the lipogram's banned letter.
	Letter string `json:"letter,omitempty"`
	// Seed fixes the sampled comparisons, the labeler's noise, the reward
	// head and PPO (offset per stage).
	Seed uint64 `json:"seed"`
	// Queries is the label budget: comparisons asked of the labeler.
	Queries int `json:"queries"`
	// K is the number of completions per comparison (2: pairs; 4: Ziegler
	// et al.'s best-of-4).
	K int `json:"k"`
	// ValFrac is the share of comparisons held out to measure the reward model.
	ValFrac float64 `json:"val_frac"`
	// LabelerBeta is the Boltzmann temperature of the labeler, in goal
	// units (0: a perfect oracle).
	LabelerBeta float64 `json:"labeler_beta"`
	// LabelerTie calls completions whose goal scores lie this close a tie.
	LabelerTie float64 `json:"labeler_tie"`
	// LabelerEps is the probability of a uniformly random answer.
	LabelerEps float64 `json:"labeler_eps"`
	// Sampling draws the comparisons' and the evaluation's completions.
	Sampling TextSampling `json:"sampling"`
	// RM trains the reward model.
	RM TextRMConfig `json:"rm"`
	// PPO optimises the policy against the reward model.
	PPO ppo.LMConfig `json:"ppo"`
	// PPOSteps is the number of PPO steps (batches).
	PPOSteps int `json:"ppo_steps"`
	// Rounds splits the label budget and the PPO steps into that many
	// rounds (0 or 1: one, the offline loop). Round r > 0 samples its
	// comparisons from the policy as PPO has trained it so far, and the
	// reward model is retrained from its initialisation on every label
	// collected so far before PPO goes on against it (online data
	// collection, as in Ziegler et al. 2019 and Stiennon et al. 2020).
	Rounds int `json:"rounds,omitempty"`
	// Select chooses which comparisons rounds after the first ask: ""
	// asks every sampled one; SelectMargin samples Pool candidate
	// comparisons of each prompt and asks the one the current reward model
	// is least sure of (the smallest spread of its scores over the
	// completions: uncertainty sampling); SelectDisagree asks the one on
	// which an ensemble of Members reward models (trained each round, with
	// different initialisations and data orders) disagree most about which
	// completion wins (Christiano et al. 2017). PPO's reward is the first
	// member either way.
	Select string `json:"select,omitempty"`
	// RMWarm makes rounds after the first continue training the previous
	// round's reward model (and ensemble members) instead of retraining
	// from the initialisation: c.RM.Epochs passes' worth of steps over the
	// round's new training comparisons, with minibatches drawn from every
	// comparison so far. Over equal rounds that is the offline loop's
	// number of reward-model steps, against (Rounds+1)/2 times as many
	// when retraining from scratch.
	RMWarm bool `json:"rm_warm,omitempty"`
	// Members is the ensemble size of SelectDisagree (default 3).
	Members int `json:"members,omitempty"`
	// Pool is the number of candidate comparisons per prompt with Select.
	Pool int `json:"pool,omitempty"`
	// EvalPrompts is the number of held-out prompts (text.Prompts("val"))
	// the policy is evaluated on before and after PPO.
	EvalPrompts int `json:"eval_prompts"`
	// SamplesPerStep is the number of each PPO batch's completions written
	// to samples.jsonl.
	SamplesPerStep int `json:"samples_per_step"`
}

// DefaultTextConfig returns the demo's settings: sentiment; 10000 labelled
// pairs (10% held out) from a Boltzmann labeler with temperature 0.1 that
// calls pairs whose sentiment differs by at most 0.05 a tie; completions of
// 24 tokens; a reward model trained for 2 epochs; 50 PPO steps of 32
// episodes with the adaptive KL controller (β₀ = 0.25, target 4 nats,
// horizon 128 episodes, so that β can follow the KL within the short run:
// up to ±5% per step; Ziegler et al.'s horizon of 10000 episodes suits runs
// of millions of episodes); evaluation on 128 held-out prompts.
func DefaultTextConfig() TextConfig {
	p := ppo.DefaultLMConfig()
	p.KLCoef, p.KLHorizon = 0.25, 128
	return TextConfig{
		Policy: "models/tiny-gpt", Goal: GoalSentiment, Letter: "e", Seed: 1,
		Queries: 10000, K: 2, ValFrac: 0.1, LabelerBeta: 0.1, LabelerTie: 0.05, LabelerEps: 0,
		Sampling: TextSampling{MaxNewTokens: p.MaxNewTokens, Temperature: 1, StopAtEOS: true, PromptEOS: true},
		RM:       DefaultTextRMConfig(), PPO: p, PPOSteps: 50, EvalPrompts: 128, SamplesPerStep: 4,
	}
}

// Validate reports every setting that cannot run, joined.
func (c TextConfig) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("loop: "+format, args...))
		}
	}
	check(c.Policy != "", "no policy directory")
	if err := CheckTextGoal(c.Goal, c.letter()); err != nil {
		errs = append(errs, err)
	}
	check(c.Queries >= 2, "label budget %d must be at least 2", c.Queries)
	check(c.K >= 2 && c.K <= feedback.MaxItems, "%d completions per comparison, want 2..%d", c.K, feedback.MaxItems)
	check(c.ValFrac >= 0 && c.ValFrac < 1, "held-out share %g must be in [0, 1)", c.ValFrac)
	check(c.LabelerBeta >= 0 && c.LabelerTie >= 0 && c.LabelerEps >= 0 && c.LabelerEps <= 1, "labeler beta %g, tie %g, eps %g out of range", c.LabelerBeta, c.LabelerTie, c.LabelerEps)
	check(c.Sampling.MaxNewTokens > 0 && c.Sampling.Temperature > 0, "sampling needs positive max new tokens and temperature")
	check(c.RM.Epochs > 0 && c.RM.Batch > 0 && c.RM.LR > 0, "reward model needs positive epochs, batch and lr")
	check(c.PPOSteps >= 0, "PPO steps %d must be >= 0", c.PPOSteps)
	check(c.Rounds >= 0, "rounds %d must be >= 0", c.Rounds)
	check(c.rounds() == 1 || c.rounds() <= c.PPOSteps, "%d rounds need at least as many PPO steps (have %d)", c.rounds(), c.PPOSteps)
	check(c.Queries/c.rounds() >= 2, "label budget %d is less than 2 comparisons per round over %d rounds", c.Queries, c.rounds())
	check(c.Select == "" || c.Select == SelectMargin || c.Select == SelectDisagree, "query selection %q: want %q, %q or none", c.Select, SelectMargin, SelectDisagree)
	check(c.Select != SelectDisagree || c.members() >= 2, "query selection %q needs at least 2 ensemble members (have %d)", c.Select, c.Members)
	check(c.Select == "" || c.rounds() > 1, "query selection %q needs more than one round (the first has no reward model to select with)", c.Select)
	check(!c.RMWarm || c.rounds() > 1, "a warm-started reward model needs more than one round")
	check(c.Select == "" || c.Pool >= 2, "query selection needs a pool of at least 2 candidates per prompt (have %d)", c.Pool)
	check(c.EvalPrompts > 0, "evaluation prompts %d must be positive", c.EvalPrompts)
	check(c.SamplesPerStep >= 0, "samples per step %d must be >= 0", c.SamplesPerStep)
	if err := c.PPO.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Query selection rules of TextConfig.Select.
const (
	SelectMargin   = "margin"   // the current reward model's least certain comparison
	SelectDisagree = "disagree" // an ensemble's most disputed comparison
)

// members is the ensemble size of SelectDisagree.
func (c TextConfig) members() int {
	if c.Members == 0 {
		return 3
	}
	return c.Members
}

// rounds is the number of labelling rounds (Rounds, at least 1).
func (c TextConfig) rounds() int { return max(c.Rounds, 1) }

// roundStart returns the first query and the first PPO step of round r
// (r = rounds() gives the totals).
func (c TextConfig) roundStart(r int) (query, step int) {
	n := c.rounds()
	return r * c.Queries / n, r * c.PPOSteps / n
}

func (c TextConfig) letter() rune {
	for _, r := range c.Letter {
		return r
	}
	return 0
}

// TextResult summarises a run of RunText.
type TextResult struct {
	Dir          string
	Before       TextEval       // the initial policy on held-out prompts
	After        TextEval       // the trained policy on the same prompts, same seeds
	RM           reward.Metrics // the reward model on held-out labelled comparisons
	RMGoldAcc    float64        // the reward model's pairwise agreement with the goal on held-out comparisons
	RMGoldPairs  int
	Labels       int   // comparisons labelled
	Ties         int   // of which ties
	JudgeLabels  int   // of which the people's judge answered (HumanLabeler.Judge)
	JudgeAudit   Audit // people's answers to the judge's audited comparisons (HumanLabeler.Audit)
	FinalKLCoef  float64
	Stages       map[string]time.Duration // wall clock per stage; later rounds' asking and retraining count in sample+label and reward model
	LastPPOStats ppo.LMStats
}

// Files of a text run directory (beside report.MetricsFile).
const (
	TextRunFile         = "run.json"          // the TextConfig
	TextComparisonsFile = "comparisons.jsonl" // labelled comparisons (best-of-k records with provenance)
	TextSamplesFile     = "samples.jsonl"     // sampled completions during PPO
	TextEvalFile        = "eval.json"         // before/after evaluation
	TextRMDir           = "rm"                // the reward model
	TextPolicyDir       = "policy"            // the trained policy
	TextReportFile      = "report.html"       // the run report
	TextCheckpointDir   = "checkpoint"        // the PPO checkpoint (resumable with rlhf ppo)
	textSamplesPerEval  = 6                   // before/after samples in the report
	textProgressRefresh = 5 * time.Second     // plain-progress interval
)

// RunText runs the language loop in dir: sample comparisons from the
// policy, label them with the synthetic labeler, train the GPT reward model,
// evaluate the policy on held-out prompts, run PPO against the reward model,
// evaluate again, and write metrics, samples, models and an HTML report.
// Progress goes to w.
func RunText(ctx context.Context, c TextConfig, dir string, w io.Writer) (*TextResult, error) {
	return RunTextWith(ctx, c, dir, w, nil)
}

// RunTextWith is RunText with people as the labeler when people is not nil:
// each round's comparisons are posted to its label store (the labeling app,
// rlhf serve, shows them), the loop waits until each has people.Overlap
// answers, and every answer that picks a completion or calls a tie is a
// comparison for the reward model. The synthetic labeler is not used; the
// goal still measures the reward model and the policy. Sampling is seeded,
// so a rerun into the same directory and store asks the same comparisons:
// it finds the queries posted before and the answers people gave, and asks
// nothing twice.
func RunTextWith(ctx context.Context, c TextConfig, dir string, w io.Writer, people *HumanLabeler) (*TextResult, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("loop: run directory: %w", err)
	}
	if err := writeJSONFile(filepath.Join(dir, TextRunFile), c); err != nil {
		return nil, err
	}
	res := &TextResult{Dir: dir, Stages: map[string]time.Duration{}}
	// stage adds the time since start to a stage (later rounds add to
	// sample+label and reward model).
	stage := func(name string, start time.Time) { res.Stages[name] += time.Since(start).Round(time.Millisecond) }
	goal, err := TextGoal(c.Goal, c.letter())
	if err != nil {
		return nil, err
	}

	// Models, tokenizer, prompts.
	t0 := time.Now()
	policy, err := gpt.Load(c.Policy)
	if err != nil {
		return nil, fmt.Errorf("loop: policy: %w", err)
	}
	tok, err := gpt.LoadTokenizer(c.Policy, policy.Config)
	if err != nil {
		return nil, fmt.Errorf("loop: policy: %w", err)
	}
	ref, err := ppo.CloneGPT(policy)
	if err != nil {
		return nil, err
	}
	trainPrompts, err := text.Prompts("train")
	if err != nil {
		return nil, fmt.Errorf("loop: prompts: %w", err)
	}
	valPrompts, err := text.Prompts("val")
	if err != nil {
		return nil, fmt.Errorf("loop: prompts: %w", err)
	}
	if len(valPrompts) > c.EvalPrompts {
		valPrompts = valPrompts[:c.EvalPrompts]
	}
	if c.PPO.MaxNewTokens != c.Sampling.MaxNewTokens {
		return nil, fmt.Errorf("loop: PPO samples %d new tokens but the comparisons %d", c.PPO.MaxNewTokens, c.Sampling.MaxNewTokens)
	}
	logger, err := report.NewLogger(dir)
	if err != nil {
		return nil, err
	}
	defer logger.Close()
	stage("load", t0)

	// 1. Comparisons from the initial policy, labelled (with Rounds > 1,
	// the first round's share; later rounds ask the policy PPO trains).
	t0 = time.Now()
	qPrompts := slices.Clone(trainPrompts)
	shuffleStrings(qPrompts, c.Seed)
	for len(qPrompts) < c.Queries {
		qPrompts = append(qPrompts, qPrompts...)
	}
	qPrompts = qPrompts[:c.Queries]
	var recs []feedback.BestOfRecord
	var trainCs, valCs []reward.TokenComparison
	newTrain := 0 // training comparisons of the latest round
	// ask samples and labels the comparisons of qPrompts[lo:hi] from pol,
	// the policy after step PPO steps, and adds them to the reward model's
	// training and held-out comparisons (the last ValFrac of each round).
	// With sel (the current reward models, when c.Select is set) each
	// prompt's comparison is chosen from c.Pool candidates by c.Select.
	ask := func(pol *gpt.Model, lo, hi, step int, sel []reward.TextScorer) error {
		from := c.Policy
		if step > 0 {
			from = fmt.Sprintf("the policy after %d PPO steps", step)
		}
		pool := 1
		if sel != nil {
			pool = c.Pool
			from += fmt.Sprintf(", each the %s of %d candidates", map[string]string{SelectMargin: "least certain", SelectDisagree: "most disputed"}[c.Select], pool)
		}
		fmt.Fprintf(w, "sampling %d comparisons of %d completions from %s\n", hi-lo, c.K, from)
		bar := progress.NewWithOptions(w, hi-lo, "sample", progress.Options{Interval: textProgressRefresh})
		var qs []feedback.Query
		const qChunk = 32
		for a := lo; a < hi; a += qChunk {
			b := min(a+qChunk, hi)
			part, err := TextQueries(ctx, pol, tok, qPrompts[a:b], c.K, c.Sampling, c.Seed*1000+uint64(a), "q")
			if err != nil {
				return err
			}
			if pool > 1 {
				if part, err = selectQueries(ctx, c.Select, sel, part, pool, func(j int) ([]feedback.Query, error) {
					return TextQueries(ctx, pol, tok, qPrompts[a:b], c.K, c.Sampling, c.Seed*1000+uint64(a)+uint64(j)<<40, "q")
				}); err != nil {
					return err
				}
			}
			for i := range part {
				part[i].ID = fmt.Sprintf("q-%d", a+i)
				part[i].PolicyVersion = fmt.Sprintf("step-%d", step)
				part[i].Run = filepath.Base(dir)
			}
			qs = append(qs, part...)
			bar.Set(b - lo)
		}
		bar.Finish()
		var labels []feedback.Label
		var err error
		if people != nil {
			var judged int
			var audit Audit
			qs, labels, judged, audit, err = askTextPeople(ctx, people, qs, w)
			res.JudgeLabels += judged
			res.JudgeAudit.Queries += audit.Queries
			res.JudgeAudit.Answers += audit.Answers
			res.JudgeAudit.Agree += audit.Agree
		} else {
			// The synthetic labeler over the goal, a reward model's scores of
			// the round's items computed in batches; it draws each label from
			// the query's id, so one labeler per round labels as one would.
			var score feedback.ScoreFunc
			var lab feedback.Labeler
			if score, err = GoalItemsOf(goal, qs); err != nil {
				return fmt.Errorf("loop: label: %w", err)
			}
			if lab, err = TextLabelerOf(score, c.LabelerBeta, c.LabelerTie, c.LabelerEps, c.Seed+7); err != nil {
				return err
			}
			labels, err = feedback.LabelAll(ctx, lab, qs)
		}
		if err != nil {
			return fmt.Errorf("loop: label: %w", err)
		}
		res.Labels += len(labels)
		for i, l := range labels {
			if l.Choice == feedback.Tie {
				res.Ties++
			}
			if r, ok := feedback.BestOfRecordOf(qs[i], l); ok {
				recs = append(recs, r)
			}
		}
		if _, err := feedback.WriteFile(filepath.Join(dir, TextComparisonsFile), slices.Values(recs)); err != nil {
			return fmt.Errorf("loop: write comparisons: %w", err)
		}
		cs, err := TokenComparisons(tok, qs, labels, true)
		if err != nil {
			return err
		}
		nVal := int(float64(len(cs)) * c.ValFrac)
		newTrain = len(cs) - nVal
		trainCs = append(trainCs, cs[:len(cs)-nVal]...)
		valCs = append(valCs, cs[len(cs)-nVal:]...)
		return nil
	}
	q1, _ := c.roundStart(1)
	if err := ask(policy, 0, q1, 0, nil); err != nil {
		return nil, err
	}
	stage("sample+label", t0)

	// 2. Reward model.
	t0 = time.Now()
	var rm TextRM
	var members []TextRM  // SelectDisagree's other ensemble members
	var np, ncomp [][]int // the normaliser's reference: the initial policy's completions
	// rmSteps is the number of steps fitRM takes: c.RM.Epochs passes over
	// every training comparison so far, or, continuing a warm reward model,
	// over the latest round's.
	rmSteps := func(warm bool) int {
		n := len(trainCs)
		if warm {
			n = newTrain
		}
		return c.RM.Steps(max(n, 1))
	}
	// fitRM trains a reward model on every training comparison so far
	// (rmSteps; measuring it on val, when not nil; each reports progress):
	// prev, when it has a model, in place (RMWarm), otherwise a new one from
	// the reference's weights with its head seeded by headSeed; minibatches
	// are seeded by dataSeed. It normalises the model on the first round's
	// training completions, so that its scale means the same in every round.
	fitRM := func(prev TextRM, headSeed, dataSeed uint64, val []reward.TokenComparison, each func(step, total int, loss float64)) (TextRM, reward.Metrics, error) {
		r := prev
		if r.GPTReward == nil {
			m, err := ppo.CloneGPT(ref)
			if err != nil {
				return TextRM{}, reward.Metrics{}, err
			}
			r = TextRM{reward.NewGPT(m, tok, headSeed)}
		}
		rmc := c.RM
		rmc.Seed = dataSeed
		met, err := trainTextRMSteps(ctx, r.GPTReward, trainCs, val, rmc, rmSteps(prev.GPTReward != nil), each)
		if err != nil {
			return TextRM{}, reward.Metrics{}, err
		}
		if np == nil { // the first round's
			for _, tc := range trainCs {
				for _, comp := range tc.Completions {
					np, ncomp = append(np, tc.Prompt), append(ncomp, comp)
				}
			}
		}
		if err := r.Normalise(np, ncomp); err != nil {
			return TextRM{}, reward.Metrics{}, err
		}
		return r, met, nil
	}
	// trainRM trains the reward model of round r (fitRM), saves it and logs
	// its held-out metrics at PPO step step; with SelectDisagree it trains
	// the ensemble's other members too.
	trainRM := func(r, step int) error {
		var prev TextRM // the model to continue, with RMWarm
		if c.RMWarm {
			prev = rm
		}
		if prev.GPTReward != nil {
			fmt.Fprintf(w, "training the reward model further on %d comparisons, %d new (%d held out, %d ties)\n", len(trainCs), newTrain, len(valCs), res.Ties)
		} else {
			fmt.Fprintf(w, "training the reward model on %d comparisons (%d held out, %d ties)\n", len(trainCs), len(valCs), res.Ties)
		}
		bar := progress.NewWithOptions(w, rmSteps(prev.GPTReward != nil), "reward model", progress.Options{Interval: textProgressRefresh})
		seed := c.RM.Seed + c.Seed
		var err error
		rm, res.RM, err = fitRM(prev, seed, seed+7919*uint64(r), valCs, func(step, total int, loss float64) {
			bar.Set(step)
			bar.SetStatus(fmt.Sprintf("loss %.3f", loss))
		})
		if err != nil {
			return err
		}
		bar.Finish()
		res.RMGoldAcc, res.RMGoldPairs, err = PairAccuracy(tok, valCs, rm, goal, 1e-9)
		if err != nil {
			return err
		}
		if err := SaveTextRM(rm, filepath.Join(dir, TextRMDir)); err != nil {
			return err
		}
		rmLog := res.RM.Map("rm")
		rmLog["rm/gold_pair_accuracy"] = res.RMGoldAcc
		rmLog["rm/val_comparisons"] = float64(res.RM.N)
		rmLog["rm/train_comparisons"] = float64(len(trainCs))
		rmLog["rm/steps"] = float64(rmSteps(prev.GPTReward != nil))
		if err := logger.Log(step, rmLog); err != nil {
			return err
		}
		fmt.Fprintf(w, "reward model: held-out accuracy %.1f%% on %d decided comparisons, agreement with the goal %.1f%% on %d pairs\n",
			100*res.RM.Accuracy, res.RM.Decided, 100*res.RMGoldAcc, res.RMGoldPairs)
		// The other members select the next round's comparisons with it;
		// they are not needed after the last round.
		last := members
		members = nil
		if c.Select == SelectDisagree && r+1 < c.rounds() {
			for j := 1; j < c.members(); j++ {
				fmt.Fprintf(w, "training ensemble member %d of %d\n", j+1, c.members())
				off := uint64(j) * 104729
				var prev TextRM
				if c.RMWarm && j <= len(last) {
					prev = last[j-1]
				}
				m, _, err := fitRM(prev, seed+off, seed+7919*uint64(r)+off, nil, nil)
				if err != nil {
					return err
				}
				members = append(members, m)
			}
		}
		return nil
	}
	if err := trainRM(0, 0); err != nil {
		return nil, err
	}
	stage("reward model", t0)

	// 3. Evaluate the initial policy.
	t0 = time.Now()
	evalSeed := c.Seed*7919 + 17
	res.Before, err = EvalText(ctx, ref, nil, tok, valPrompts, goal, c.Sampling, evalSeed)
	if err != nil {
		return nil, err
	}
	stage("eval before", t0)

	// 4. PPO against the reward model.
	t0 = time.Now()
	pc := c.PPO
	pc.Seed += c.Seed
	tr, err := ppo.NewLMTrainer(pc, policy, tok, rm, trainPrompts)
	if err != nil {
		return nil, err
	}
	samples, err := os.OpenFile(filepath.Join(dir, TextSamplesFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("loop: samples: %w", err)
	}
	defer samples.Close()
	fmt.Fprintf(w, "PPO: %d steps of %d episodes, %s, %s\n", c.PPOSteps, pc.BatchSize, pc.Estimator(), pc.KLControl())
	bar := progress.NewWithOptions(w, c.PPOSteps, "ppo", progress.Options{Interval: textProgressRefresh})
	round := 0
	var inRounds time.Duration // spent asking and retraining, not on PPO
	for tr.Steps < c.PPOSteps {
		if q, step := c.roundStart(round + 1); round+1 < c.rounds() && tr.Steps == step {
			// The next round: ask the policy as trained so far, retrain the
			// reward model on every label, and optimise against it.
			bar.Finish()
			round++
			t1 := time.Now()
			fmt.Fprintf(w, "round %d of %d\n", round+1, c.rounds())
			qEnd, _ := c.roundStart(round + 1)
			var sel []reward.TextScorer
			if c.Select != "" {
				sel = append(sel, rm)
				for _, m := range members {
					sel = append(sel, m)
				}
			}
			if err := ask(tr.Policy, q, qEnd, step, sel); err != nil {
				return nil, err
			}
			stage("sample+label", t1)
			t2 := time.Now()
			if err := trainRM(round, step); err != nil {
				return nil, err
			}
			tr.Scorer = rm
			stage("reward model", t2)
			inRounds += time.Since(t1)
			bar = progress.NewWithOptions(w, c.PPOSteps, "ppo", progress.Options{Interval: textProgressRefresh})
			bar.Set(tr.Steps)
		}
		st, err := tr.Step(ctx)
		if err != nil {
			return nil, err
		}
		m := st.Metrics()
		gold, err := SampleGold(goal, st.Samples)
		if err != nil {
			return nil, err
		}
		m["objective/gold"], m["objective/gold_std"] = report.Spread(gold)
		if err := logger.Log(st.Step, m); err != nil {
			return nil, err
		}
		if err := writeSamples(samples, st, gold, c.SamplesPerStep); err != nil {
			return nil, err
		}
		res.LastPPOStats = st
		bar.Add(1)
		bar.SetStatus(fmt.Sprintf("gold %+.3f rm %+.2f kl %.2f β %.3f", m["objective/gold"], st.Score, st.KL, st.KLCoef))
	}
	bar.Finish()
	res.FinalKLCoef = tr.KL.Value
	if err := tr.Save(filepath.Join(dir, TextCheckpointDir)); err != nil {
		return nil, err
	}
	if err := tr.Policy.Save(filepath.Join(dir, TextPolicyDir)); err != nil {
		return nil, err
	}
	res.Stages["ppo"] = (time.Since(t0) - inRounds).Round(time.Millisecond)

	// 5. Evaluate the trained policy on the same prompts and seeds.
	t0 = time.Now()
	res.After, err = EvalText(ctx, tr.Policy, ref, tok, valPrompts, goal, c.Sampling, evalSeed)
	if err != nil {
		return nil, err
	}
	stage("eval after", t0)
	if err := writeJSONFile(filepath.Join(dir, TextEvalFile), map[string]any{
		"before": evalSummary(res.Before), "after": evalSummary(res.After),
		"rm": map[string]any{"accuracy": jsonNum(res.RM.Accuracy), "decided": res.RM.Decided, "loss": jsonNum(res.RM.Loss),
			"gold_pair_accuracy": jsonNum(res.RMGoldAcc), "gold_pairs": res.RMGoldPairs},
		"labels": res.Labels, "ties": res.Ties, "judge_labels": res.JudgeLabels, "judge_audit": res.JudgeAudit, "final_kl_coef": res.FinalKLCoef, "rounds": c.rounds(),
	}); err != nil {
		return nil, err
	}
	if err := logger.Sync(); err != nil {
		return nil, err
	}
	if err := WriteTextReport(dir, c, res); err != nil {
		return nil, err
	}
	return res, nil
}

// TextEvalJSON is a text run's eval.json as RunText writes it (a number that
// was not finite is null there, read as 0).
type TextEvalJSON struct {
	Before, After TextEvalStats
	RM            struct {
		Accuracy     float64 `json:"accuracy"`
		Decided      int     `json:"decided"`
		Loss         float64 `json:"loss"`
		GoldAccuracy float64 `json:"gold_pair_accuracy"`
		GoldPairs    int     `json:"gold_pairs"`
	} `json:"rm"`
	Labels      int     `json:"labels"`
	Ties        int     `json:"ties"`
	JudgeLabels int     `json:"judge_labels"` // of the labels, the AI judge's (0 in runs from before it existed)
	JudgeAudit  Audit   `json:"judge_audit"`  // people's answers to the judge's audited comparisons
	FinalKLCoef float64 `json:"final_kl_coef"`
	Rounds      int     `json:"rounds"` // 0 in runs from before rounds existed
}

// TextEvalStats is one side of TextEvalJSON: a policy on held-out prompts.
type TextEvalStats struct {
	N       int     `json:"n"`
	Gold    float64 `json:"gold_mean"`
	GoldStd float64 `json:"gold_std"`
	KL      float64 `json:"kl_mean"`
	KLStd   float64 `json:"kl_std"`
}

// ReadTextEval reads dir's eval.json (an error wrapping fs.ErrNotExist when
// the run has none).
func ReadTextEval(dir string) (*TextEvalJSON, error) {
	buf, err := os.ReadFile(filepath.Join(dir, TextEvalFile))
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	var ev TextEvalJSON
	if err := json.Unmarshal(buf, &ev); err != nil {
		return nil, fmt.Errorf("loop: %s: %w", filepath.Join(dir, TextEvalFile), err)
	}
	return &ev, nil
}

func evalSummary(e TextEval) map[string]any {
	return map[string]any{"n": e.N, "gold_mean": jsonNum(e.Gold), "gold_std": jsonNum(e.GoldStd), "kl_mean": jsonNum(e.KL), "kl_std": jsonNum(e.KLStd)}
}

// jsonNum returns x, or nil (JSON null) when x is not finite.
func jsonNum(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// writeSamples appends the first n samples of a PPO step to f as JSON lines.
func writeSamples(f *os.File, st ppo.LMStats, gold []float64, n int) error {
	for i := 0; i < n && i < len(st.Samples); i++ {
		s := st.Samples[i]
		line, err := json.Marshal(map[string]any{"step": st.Step, "prompt": s.Prompt, "completion": s.Completion,
			"score": s.Score, "gold": gold[i], "kl": s.KL})
		if err != nil {
			return fmt.Errorf("loop: samples: %w", err)
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			return fmt.Errorf("loop: samples: %w", err)
		}
	}
	return nil
}

// KLPlots returns the plots of a PPO run's metrics m that show its KL
// control: the KL to the reference, with the target where c has one, and
// β, with its slow part where c's controller has a gain; both over PPO
// steps.
func KLPlots(m *report.Metrics, c ppo.LMConfig) (kl, beta *report.Plot) {
	kl = m.Plot("KL to the reference (nats per completion)", "objective/kl")
	if c.KLTarget > 0 {
		kl.AddLevel("target", c.KLTarget)
	}
	if c.KLGain > 0 && c.KLTarget > 0 {
		beta = m.Plot("KL coefficient β and its slow part β_I", "objective/kl_coef", "objective/kl_coef_slow")
	} else {
		beta = m.Plot("KL coefficient β", "objective/kl_coef")
	}
	kl.XLabel, beta.XLabel = "PPO step", "PPO step"
	return kl, beta
}

// WriteTextReport writes dir/report.html for a finished run: plots of the
// gold score, reward-model score and KL over PPO, the reward model's
// accuracy, the before/after table and samples. All model text is escaped
// by report.HTMLReport.
func WriteTextReport(dir string, c TextConfig, res *TextResult) error {
	m, err := report.LoadMetrics(filepath.Join(dir, report.MetricsFile))
	if err != nil {
		return err
	}
	r := &report.HTMLReport{Title: "RLHF on text: " + c.Goal}
	r.AddParagraph(fmt.Sprintf("Policy %s; %d comparisons of %d completions labelled by a Boltzmann labeler (β = %g) over the %s goal; "+
		"GPT reward model; PPO for %d steps of %d episodes (advantages by %s), %s; seed %d.",
		c.Policy, res.Labels, c.K, c.LabelerBeta, c.Goal, c.PPOSteps, c.PPO.BatchSize, c.PPO.Estimator(), c.PPO.KLControl(), c.Seed))
	if n := c.rounds(); n > 1 {
		how := "the reward model was retrained on every label collected"
		if c.RMWarm {
			how = "the reward model continued its training on the new labels (minibatches from every label collected)"
		}
		r.AddParagraph(fmt.Sprintf("Online: %d rounds; each after the first sampled its comparisons from the policy PPO had trained so far, "+
			"and %s before PPO went on.", n, how))
	}
	r.AddHeading("Result on held-out prompts")
	r.AddTable([]string{"policy", "gold score (mean ± std)", "KL to reference (nats)", "completions"}, [][]string{
		{"before PPO", fmt.Sprintf("%+.3f ± %.3f", res.Before.Gold, res.Before.GoldStd), "0", fmt.Sprint(res.Before.N)},
		{"after PPO", fmt.Sprintf("%+.3f ± %.3f", res.After.Gold, res.After.GoldStd), fmt.Sprintf("%.2f ± %.2f", res.After.KL, res.After.KLStd), fmt.Sprint(res.After.N)},
	})
	r.AddHeading("Reward model")
	r.AddTable([]string{"held-out accuracy (labels)", "decided comparisons", "agreement with the goal (pairs)", "loss"}, [][]string{
		{fmt.Sprintf("%.1f%%", 100*res.RM.Accuracy), fmt.Sprint(res.RM.Decided), fmt.Sprintf("%.1f%% of %d", 100*res.RMGoldAcc, res.RMGoldPairs), fmt.Sprintf("%.3f", res.RM.Loss)},
	})
	r.AddHeading("Training")
	p := m.Plot("Scores of the PPO batches", "objective/gold", "objective/scores")
	p.XLabel, p.YLabel = "PPO step", "score"
	for i, name := range []string{"gold " + c.Goal + " (objective/gold)", "reward model, normalised (objective/scores)"} {
		if i < len(p.Series) {
			p.Series[i].Name = name
		}
	}
	r.AddPlot(p)
	kl, beta := KLPlots(m, c.PPO)
	kl.YLabel = "KL"
	r.AddPlot(kl)
	r.AddPlot(beta)
	r.AddHeading("Samples before and after (same prompts and seeds)")
	for i := 0; i < textSamplesPerEval && i < len(res.Before.Samples) && i < len(res.After.Samples); i++ {
		b, a := res.Before.Samples[i], res.After.Samples[i]
		r.AddSample(fmt.Sprintf("prompt %d", i+1), fmt.Sprintf("%s\n  before (gold %+.2f): %s\n  after  (gold %+.2f): %s",
			b.Prompt, b.Score, ppo.OneLine(b.Completion), a.Score, ppo.OneLine(a.Completion)))
	}
	return r.WriteFile(filepath.Join(dir, TextReportFile))
}

// shuffleStrings permutes s with a PCG seeded by seed.
func shuffleStrings(s []string, seed uint64) {
	r := newTextRand(seed)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
}

// writeJSONFile writes v as indented JSON to path.
func writeJSONFile(path string, v any) error {
	buf, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("loop: %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	return nil
}

// SampleGold is the goal's score of each PPO sample (its prompt and
// completion).
func SampleGold(goal reward.TextScorer, samples []ppo.LMSample) ([]float64, error) {
	ps, cs := make([]string, len(samples)), make([]string, len(samples))
	for i, s := range samples {
		ps[i], cs[i] = s.Prompt, s.Completion
	}
	return GoalScores(goal, ps, cs)
}

// Judged is what JudgeFirst makes of a batch of queries.
type Judged struct {
	// Labels holds the judge's label of each query, in order: CantTell
	// where it leaves the query to people.
	Labels []feedback.Label
	// Scores holds its scores of each query's items when the judge is a
	// feedback.ScoringLabeler (nil otherwise).
	Scores [][]float64
	// Ask holds the queries people answer, in order: those the judge leaves
	// and those of its answers picked for an audit.
	Ask []feedback.Query
	// Audited holds the ids of the judge's answers that people answer too.
	Audited map[string]bool
}

// Answered is the number of queries the judge answered (audited or not).
func (j Judged) Answered() int {
	n := 0
	for _, l := range j.Labels {
		if l.Choice != feedback.CantTell {
			n++
		}
	}
	return n
}

// Kept reports whether query i keeps the judge's answer: it answered and
// the query is not audited.
func (j Judged) Kept(i int) bool {
	return j.Labels[i].Choice != feedback.CantTell && !j.Audited[j.Labels[i].QueryID]
}

// JudgeFirst has judge label qs, in batches, reporting progress to w. People
// are to answer the queries it labels CantTell and, for an audit of the
// judge, a share audit of those it answers (judge.Audited: a fixed pick by
// query id, so that a rerun asks the same).
func JudgeFirst(ctx context.Context, jl feedback.BatchLabeler, qs []feedback.Query, audit float64, w io.Writer) (Judged, error) {
	const chunk = 256
	bar := progress.NewWithOptions(w, len(qs), "judge", progress.Options{Interval: textProgressRefresh})
	defer bar.Finish()
	var j Judged
	scorer, scored := jl.(feedback.ScoringLabeler)
	for lo := 0; lo < len(qs); lo += chunk {
		part := qs[lo:min(lo+chunk, len(qs))]
		var ls []feedback.Label
		var ss [][]float64
		var err error
		if scored {
			ls, ss, err = scorer.LabelScored(ctx, part)
		} else {
			ls, err = jl.LabelBatch(ctx, part)
		}
		if err == nil && (len(ls) != len(part) || scored && len(ss) != len(part)) {
			err = fmt.Errorf("%d labels and %d score rows for %d queries", len(ls), len(ss), len(part))
		}
		if err != nil {
			return Judged{}, fmt.Errorf("judge: %w", err)
		}
		j.Labels, j.Scores = append(j.Labels, ls...), append(j.Scores, ss...)
		bar.Add(len(part))
	}
	j.Audited = map[string]bool{}
	for i, l := range j.Labels {
		l.QueryID = qs[i].ID
		j.Labels[i] = l
		switch {
		case l.Choice == feedback.CantTell:
			j.Ask = append(j.Ask, qs[i])
		case judge.Audited(qs[i].ID, audit):
			j.Ask = append(j.Ask, qs[i])
			j.Audited[qs[i].ID] = true
		}
	}
	return j, nil
}

// Audit counts how people's answers to audited queries compare with the
// judge's: Answers is people's answers that pick an item (not ties,
// can't-tells or skips), Agree those that pick the judge's.
type Audit struct {
	Queries int `json:"queries"`
	Answers int `json:"answers"`
	Agree   int `json:"agree"`
}

// Add counts people's answer l to a query the judge answered with jl.
func (a *Audit) Add(jl, l feedback.Label) {
	if l.Choice < 0 { // Tie, CantTell, Skip
		return
	}
	a.Answers++
	if l.Choice == jl.Choice {
		a.Agree++
	}
}

// String is "people agreed with the judge on A of N audited answers (P%)".
func (a Audit) String() string {
	if a.Answers == 0 {
		return fmt.Sprintf("people gave no decisive answer on the %d audited queries", a.Queries)
	}
	return fmt.Sprintf("people agreed with the judge on %d of %d answers to %d audited queries (%.0f%%)",
		a.Agree, a.Answers, a.Queries, 100*float64(a.Agree)/float64(a.Answers))
}

// askTextPeople posts qs to people (their text as JSON stores it, so that a
// rerun recognises it) and waits for every query's answers. It returns one
// query and label per answer, skips left out, in the order they came. With
// people.Judge, the judge first labels every query (JudgeFirst); people are
// asked only about those it leaves and those it audits (people.Audit), and
// the result holds the queries in the order of qs, each with the judge's
// label or people's answers; judged is the number of the judge's, audit
// how people's answers compare with its audited ones.
func askTextPeople(ctx context.Context, people *HumanLabeler, qs []feedback.Query, w io.Writer) (aq []feedback.Query, al []feedback.Label, judged int, audit Audit, err error) {
	JSONTextQueries(qs)
	ask := qs
	var jd Judged
	if people.Judge != nil {
		if jd, err = JudgeFirst(ctx, people.Judge, qs, people.Audit, w); err != nil {
			return nil, nil, 0, audit, err
		}
		ask = jd.Ask
		audit.Queries = len(jd.Audited)
		fmt.Fprintf(w, "the judge answers %d of %d comparisons and leaves %d to people", jd.Answered(), len(qs), len(qs)-jd.Answered())
		if audit.Queries > 0 {
			fmt.Fprintf(w, ", who also answer %d of its answers (an audit)", audit.Queries)
		}
		fmt.Fprintln(w)
	}
	answers := map[string][]feedback.Label{} // with a judge: people's, by query
	if len(ask) > 0 {
		fmt.Fprintf(w, "asking people about %d comparisons (run %s; rlhf serve shows them)\n", len(ask), people.RunID)
		bar := progress.NewWithOptions(w, len(ask)*max(people.Overlap, 1), "answers", progress.Options{Interval: textProgressRefresh})
		for a, err := range people.AskText(ctx, ask) {
			if err != nil {
				bar.Finish()
				return nil, nil, 0, audit, err
			}
			if a.Label.Choice == feedback.Skip {
				continue
			}
			if jd.Labels != nil {
				answers[a.Query.ID] = append(answers[a.Query.ID], a.Label)
			} else {
				aq, al = append(aq, a.Query), append(al, a.Label)
			}
			bar.Add(1)
		}
		bar.Finish()
	}
	if jd.Labels == nil {
		return aq, al, 0, audit, nil
	}
	for i, q := range qs {
		if jd.Kept(i) {
			aq, al = append(aq, q), append(al, jd.Labels[i])
			judged++
			continue
		}
		for _, l := range answers[q.ID] {
			aq, al = append(aq, q), append(al, l)
			if jd.Audited[q.ID] {
				audit.Add(jd.Labels[i], l)
			}
		}
	}
	if audit.Queries > 0 {
		fmt.Fprintln(w, audit)
	}
	return aq, al, judged, audit, nil
}

// selectQueries returns, for each query of first, one of pool candidate
// queries of its prompt: first itself and the queries more(1), ...,
// more(pool-1) sample (same prompts, in the same order). With rule
// SelectMargin the one sel[0] is least certain of (the smallest spread of
// its scores over the completions); with SelectDisagree the one the
// reward models sel disagree on most (the largest standard deviation over
// models of the Bradley-Terry probability that one completion beats
// another, averaged over the query's pairs). The earliest candidate wins
// a tie.
func selectQueries(ctx context.Context, rule string, sel []reward.TextScorer, first []feedback.Query, pool int, more func(j int) ([]feedback.Query, error)) ([]feedback.Query, error) {
	if len(sel) == 0 || rule == SelectDisagree && len(sel) < 2 {
		return nil, fmt.Errorf("loop: select queries by %q with %d reward models", rule, len(sel))
	}
	cands := [][]feedback.Query{first}
	for j := 1; j < pool; j++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		qs, err := more(j)
		if err != nil {
			return nil, err
		}
		if len(qs) != len(first) {
			return nil, fmt.Errorf("loop: candidate set %d holds %d queries, want %d", j, len(qs), len(first))
		}
		cands = append(cands, qs)
	}
	var ps, cs []string
	for _, qs := range cands {
		for _, q := range qs {
			for _, it := range q.Items {
				ps, cs = append(ps, it.Prompt), append(cs, it.Completion)
			}
		}
	}
	scorers := sel[:1]
	if rule == SelectDisagree {
		scorers = sel
	}
	scores := make([][]float64, len(scorers)) // (model, item)
	for m, sc := range scorers {
		var err error
		if scores[m], err = GoalScores(sc, ps, cs); err != nil {
			return nil, fmt.Errorf("loop: select queries: %w", err)
		}
	}
	// cost is what selection minimises for the items at..at+k of one query.
	cost := func(at, k int) float64 {
		if rule == SelectMargin {
			lo, hi := math.Inf(1), math.Inf(-1)
			for i := at; i < at+k; i++ {
				lo, hi = min(lo, scores[0][i]), max(hi, scores[0][i])
			}
			return hi - lo
		}
		var sum float64
		pairs := 0
		for a := at; a < at+k; a++ {
			for b := a + 1; b < at+k; b++ {
				p := make([]float64, len(scores))
				for m := range scores {
					p[m] = 1 / (1 + math.Exp(scores[m][b]-scores[m][a]))
				}
				_, sd := report.Spread(p)
				sum += sd
				pairs++
			}
		}
		return -sum / float64(pairs)
	}
	out := make([]feedback.Query, len(first))
	best := make([]float64, len(first))
	at := 0
	for j, qs := range cands {
		for i, q := range qs {
			if v := cost(at, len(q.Items)); j == 0 || v < best[i] {
				out[i], best[i] = q, v
				out[i].Sampler = maps.Clone(q.Sampler)
				out[i].Sampler["selected_from"] = pool
				out[i].Sampler["selected_by"] = rule
				out[i].Sampler["candidate"] = j
			}
			at += len(q.Items)
		}
	}
	return out, nil
}
