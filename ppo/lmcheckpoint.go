package ppo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"rlhf/ag"
	"rlhf/model/gpt"
	"rlhf/safetensors"
	"rlhf/text"
)

// Files and directories of a token-level PPO checkpoint.
const (
	// LMPolicyDir holds the policy with its value head (gpt.Model.Save).
	LMPolicyDir = "policy"
	// LMRefDir holds the frozen reference model (gpt.Model.Save).
	LMRefDir = "ref"
	// LMOptimFile holds AdamW's moments and step count.
	LMOptimFile = "optim.safetensors"
	// LMStateFile is the JSON record of everything else (see lmState).
	LMStateFile = "state.json"
)

// lmState is LMStateFile's content.
type lmState struct {
	Format       int          `json:"format"`
	Config       LMConfig     `json:"config"`
	Steps        int          `json:"steps"`
	KL           KLController `json:"kl_controller"`
	ScoreMean    float64      `json:"score_mean"`
	ScoreStd     float64      `json:"score_std"`
	ScoreNormSet bool         `json:"score_norm_set"`
	RNG          []byte       `json:"rng"` // rand.PCG binary state
}

// Save writes a checkpoint to dir (created if needed): policy and value
// head, reference model, optimiser state, KL controller, score statistics,
// generator state and step count, so that ResumeLM continues exactly where
// this trainer is. The state file is written last, so a checkpoint without
// one is incomplete. With a Device, the weights and optimiser state are
// first copied back from it.
func (t *LMTrainer) Save(dir string) error {
	if t.Device != nil {
		if err := t.Device.Sync(t.Opt); err != nil {
			return fmt.Errorf("ppo: save checkpoint: copy the state back from the device: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	os.Remove(filepath.Join(dir, LMStateFile))
	if err := t.Policy.Save(filepath.Join(dir, LMPolicyDir)); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := t.Ref.Save(filepath.Join(dir, LMRefDir)); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, LMOptimFile), t.Opt.StateDict(), nil); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	rng, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: generator state: %w", err)
	}
	st := lmState{Format: 1, Config: t.Config, Steps: t.Steps, KL: t.KL,
		ScoreMean: t.ScoreMean, ScoreStd: t.ScoreStd, ScoreNormSet: t.ScoreNormSet, RNG: rng}
	buf, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	tmp := filepath.Join(dir, LMStateFile+".tmp")
	if err := os.WriteFile(tmp, append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, LMStateFile)); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	return nil
}

// ReadLMConfig returns the LMConfig stored in the checkpoint at dir.
func ReadLMConfig(dir string) (LMConfig, error) {
	st, err := readLMState(dir)
	if err != nil {
		return LMConfig{}, err
	}
	return st.Config, nil
}

func readLMState(dir string) (*lmState, error) {
	path := filepath.Join(dir, LMStateFile)
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint: %w", err)
	}
	var st lmState
	if err := json.Unmarshal(buf, &st); err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint %s: %w", path, err)
	}
	if st.Format != 1 {
		return nil, fmt.Errorf("ppo: read checkpoint %s: unknown format %d", path, st.Format)
	}
	if err := st.Config.Validate(); err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint %s: %w", path, err)
	}
	if st.Steps < 0 || !(st.KL.Value >= 0) {
		return nil, fmt.Errorf("ppo: read checkpoint %s: step %d, KL coefficient %g", path, st.Steps, st.KL.Value)
	}
	return &st, nil
}

// ResumeLM rebuilds the trainer saved in dir; training then continues
// exactly as if it had not stopped. The tokenizer (nil: the one the policy's
// config names), scorer and prompts, which a checkpoint does not hold, are
// given again.
func ResumeLM(dir string, tok *text.Tokenizer, scorer TextScorer, prompts []string) (*LMTrainer, error) {
	st, err := readLMState(dir)
	if err != nil {
		return nil, err
	}
	policy, err := gpt.Load(filepath.Join(dir, LMPolicyDir))
	if err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	if policy.VHead == nil {
		return nil, fmt.Errorf("ppo: resume %s: the policy has no value head", dir)
	}
	ref, err := gpt.Load(filepath.Join(dir, LMRefDir))
	if err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	if ref.Config.VocabSize != policy.Config.VocabSize || ref.Config.NPositions != policy.Config.NPositions {
		return nil, fmt.Errorf("ppo: resume %s: reference and policy configs differ", dir)
	}
	if tok == nil {
		if tok, err = gpt.LoadTokenizer(filepath.Join(dir, LMPolicyDir), policy.Config); err != nil {
			return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
		}
	}
	t, err := NewLMTrainer(st.Config, policy, tok, scorer, prompts)
	if err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	t.Ref = ref
	opt, err := safetensors.ReadFile(filepath.Join(dir, LMOptimFile))
	if err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	if err := t.Opt.LoadStateDict(opt.Tensors); err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(st.RNG); err != nil {
		return nil, fmt.Errorf("ppo: resume %s: generator state: %w", dir, err)
	}
	t.pcg, t.rng = pcg, rand.New(pcg)
	t.Steps, t.KL = st.Steps, st.KL
	t.ScoreMean, t.ScoreStd, t.ScoreNormSet = st.ScoreMean, st.ScoreStd, st.ScoreNormSet
	t.tape = ag.NewTape()
	return t, nil
}
