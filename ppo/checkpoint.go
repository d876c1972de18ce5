package ppo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"rlhf/safetensors"
	"rlhf/tensor"
)

// Checkpoint files inside a checkpoint directory.
const (
	// ModelFile holds the actor ("actor.*" or "actor_mean.*", "actor_logstd")
	// and critic ("critic.*") parameters and, with NormObs, the observation
	// statistics as "obs_rms.mean" and "obs_rms.var" (float32 copies, for use
	// outside Go; the exact values are in StateFile).
	ModelFile = "model.safetensors"
	// OptimFile holds AdamW's moments and step count.
	OptimFile = "optim.safetensors"
	// ActionsFile holds every action taken so far, (GlobalStep/NumEnvs·NumEnvs, ActDim):
	// the environments are restored on resume by replaying them from the seed.
	ActionsFile = "actions.safetensors"
	// StateFile is the JSON record of everything else (see checkpointState).
	StateFile = "state.json"
)

// checkpointState is StateFile's content.
type checkpointState struct {
	Format     int             `json:"format"`
	Config     Config          `json:"config"`
	Iteration  int             `json:"iteration"`
	GlobalStep int             `json:"global_step"`
	RNG        []byte          `json:"rng"` // rand.PCG binary state
	ObsNorm    *RunningMeanStd `json:"obs_norm,omitempty"`
	RetNorm    *RunningMeanStd `json:"ret_norm,omitempty"`
	RetAcc     []float64       `json:"ret_acc"`
	TrainRet   []float64       `json:"train_ret"`
}

// Save writes a checkpoint to dir (created if needed): parameters,
// optimiser state, observation statistics, generator state, counters and
// the action log, so that Resume continues exactly where this run is.
func (t *Trainer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	model := map[string]*tensor.Tensor{}
	for _, p := range t.params {
		model[p.Name] = p.P.Value
	}
	if t.ObsNorm != nil {
		model["obs_rms.mean"] = toTensor(t.ObsNorm.Mean, len(t.ObsNorm.Mean), 1).Reshape(-1)
		model["obs_rms.var"] = toTensor(t.ObsNorm.Var, len(t.ObsNorm.Var), 1).Reshape(-1)
	}
	meta := map[string]string{"format": "pt", "env": t.Config.Env}
	if err := safetensors.WriteFile(filepath.Join(dir, ModelFile), model, meta); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, OptimFile), t.Opt.StateDict(), nil); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	ad := t.Policy.ActDim()
	acts := map[string]*tensor.Tensor{"actions": tensor.FromSlice(t.actionLog, len(t.actionLog)/ad, ad)}
	if err := safetensors.WriteFile(filepath.Join(dir, ActionsFile), acts, nil); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	rng, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: generator state: %w", err)
	}
	st := checkpointState{
		Format: 1, Config: t.Config, Iteration: t.Iteration, GlobalStep: t.GlobalStep, RNG: rng,
		ObsNorm: t.ObsNorm, RetNorm: t.retNorm, RetAcc: t.retAcc, TrainRet: t.trainRet,
	}
	buf, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(buf, '\n'), 0o644); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	return nil
}

// ReadConfig returns the Config stored in the checkpoint at dir.
func ReadConfig(dir string) (Config, error) {
	st, err := readState(dir)
	if err != nil {
		return Config{}, err
	}
	return st.Config, nil
}

func readState(dir string) (*checkpointState, error) {
	path := filepath.Join(dir, StateFile)
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal(buf, &st); err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint %s: %w", path, err)
	}
	if st.Format != 1 {
		return nil, fmt.Errorf("ppo: read checkpoint %s: unknown format %d", path, st.Format)
	}
	return &st, nil
}

// Resume rebuilds the trainer saved in dir and restores its state; training
// then continues exactly as if it had not stopped (same parameters, same
// episodes, same samples). The environments are brought back by replaying
// the saved actions from the seed. reward, which a checkpoint cannot hold,
// must be given again if the run used one.
func Resume(dir string, reward RewardFunc) (*Trainer, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(st.Config)
	if err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	t.Reward = reward
	if err := t.restore(dir, st); err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	return t, nil
}

// restore loads a checkpoint into a freshly built trainer with the same Config.
func (t *Trainer) restore(dir string, st *checkpointState) error {
	c := t.Config
	if st.Iteration < 0 || st.GlobalStep != st.Iteration*c.BatchSize() {
		return fmt.Errorf("global step %d does not match %d iterations of %d steps", st.GlobalStep, st.Iteration, c.BatchSize())
	}
	if len(st.RetAcc) != c.NumEnvs || len(st.TrainRet) != c.NumEnvs {
		return fmt.Errorf("per-environment state has %d and %d entries, want %d", len(st.RetAcc), len(st.TrainRet), c.NumEnvs)
	}
	if (st.ObsNorm != nil) != c.NormObs || (st.RetNorm != nil) != c.NormReward {
		return fmt.Errorf("normalisation statistics do not match the config")
	}
	if st.ObsNorm != nil {
		if err := st.ObsNorm.check(t.Spec.ObsDim); err != nil {
			return fmt.Errorf("observation %w", err)
		}
	}
	if st.RetNorm != nil {
		if err := st.RetNorm.check(1); err != nil {
			return fmt.Errorf("return %w", err)
		}
	}
	model, err := safetensors.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		return err
	}
	for _, p := range t.params {
		src, ok := model.Tensors[p.Name]
		if !ok {
			return fmt.Errorf("%s lacks %s", ModelFile, p.Name)
		}
		if !reflect.DeepEqual(src.Shape, p.P.Value.Shape) {
			return fmt.Errorf("%s: %s has shape %v, want %v", ModelFile, p.Name, src.Shape, p.P.Value.Shape)
		}
	}
	opt, err := safetensors.ReadFile(filepath.Join(dir, OptimFile))
	if err != nil {
		return err
	}
	acts, err := safetensors.ReadFile(filepath.Join(dir, ActionsFile))
	if err != nil {
		return err
	}
	log, ok := acts.Tensors["actions"]
	ad := t.Policy.ActDim()
	if !ok || len(log.Data) != st.GlobalStep*ad {
		return fmt.Errorf("%s must hold %d actions of width %d", ActionsFile, st.GlobalStep, ad)
	}
	if t.Spec.Act.IsDiscrete() {
		for _, a := range log.Data {
			if a != float32(int(a)) || a < 0 || int(a) >= t.Spec.Act.Discrete {
				return fmt.Errorf("%s holds %v, not an action index in [0, %d)", ActionsFile, a, t.Spec.Act.Discrete)
			}
		}
	}
	for _, a := range log.Data {
		if a != a {
			return fmt.Errorf("%s holds a NaN action", ActionsFile)
		}
	}
	if err := t.Opt.LoadStateDict(opt.Tensors); err != nil {
		return fmt.Errorf("%s: %w", OptimFile, err)
	}
	if err := t.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("generator state: %w", err)
	}
	for _, p := range t.params {
		copy(p.P.Value.Data, model.Tensors[p.Name].Data)
	}
	t.replay(log.Data)
	t.Iteration, t.GlobalStep = st.Iteration, st.GlobalStep
	t.ObsNorm, t.retNorm = st.ObsNorm, st.RetNorm
	t.retAcc, t.trainRet = st.RetAcc, st.TrainRet
	return nil
}

// replay restarts the environments and steps them through the logged
// actions, which brings them to the state they had when the log was saved.
func (t *Trainer) replay(log []float32) {
	n, ad := t.Config.NumEnvs, t.Policy.ActDim()
	rec := t.Env.Record
	t.Env.Record = false
	defer func() { t.Env.Record = rec }()
	t.obs = t.Env.Reset()
	envActs := make([]float64, n*ad)
	for lo := 0; lo < len(log); lo += n * ad {
		t.Policy.EnvActions(tensor.FromSlice(log[lo:lo+n*ad], n, ad), envActs)
		t.obs = t.Env.Step(envActs).Obs
	}
	t.actionLog = append(t.actionLog[:0], log...)
}
