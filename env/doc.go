// Package env provides the control environments that agents are trained on
// and labelers compare: CartPole-v1, Acrobot-v1 and Pendulum-v1 with the
// dynamics, spaces, rewards and episode rules Gymnasium documents (so that
// returns compare with published numbers), Reacher2D-v0, a MuJoCo-free
// two-link arm after Gymnasium's Reacher-v4, and tasks whose goal is hidden
// from the agent and known only to the labeler, in the spirit of the backflip
// of Christiano et al. 2017: PendulumSpin-v0 and CartPoleLeft-v0.
//
// Every environment is built by name with Make and described by a Spec. A
// ScoreFunc (Scorer) scores a recorded step from the states around it: the
// true reward, recomputed, or the hidden goal's score. VecEnv steps many
// copies deterministically; Recorder, Rollout and VecEnv.Record record
// StepRecords, which Cut turns into comparison Segments; RenderSVG draws a state.
// VecEnv.State and VecEnv.Restore (Snapshot and Restore for one environment)
// save and load everything stepping depends on, as JSON that reads back
// bit for bit, so that checkpoints continue a run exactly.
//
// Physical state layouts (Spec.State), fixed for replays and drawings:
//
//	CartPole-v1, CartPoleLeft-v0  [x, x_dot, theta, theta_dot]   theta 0 = upright, + leans towards +x
//	Pendulum-v1, PendulumSpin-v0  [theta, theta_dot]             theta 0 = upright, counter-clockwise +, not wrapped
//	Acrobot-v1                    [theta1, theta2, dtheta1, dtheta2]  theta1 0 = hanging down, theta2 relative
//	Reacher2D-v0                  [q1, q2, dq1, dq2, target_x, target_y]
//
// Simulation is float64 throughout (Gymnasium returns float32 observations;
// values agree to float32 precision).
package env
