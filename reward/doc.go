// Package reward learns reward models from preferences: the losses that tie
// summed rewards to labelled comparisons, and the control reward model of
// Christiano et al. 2017.
//
// Losses ([PreferenceLoss], [BradleyTerry], [BestOfK]) are pure functions on
// an [ag.Tape]: the Bradley-Terry model for pairs, with the paper's option of
// a labeler who answers at random with probability eps, and the k-way softmax
// cross-entropy of Ziegler et al. 2019; ties train as a uniform target.
// [Evaluate] computes rm/loss, rm/accuracy and rm/margin.
//
// Any network that scores a batch of items is a [Model]; [ComparisonLoss] and
// [TrainStep] train one on comparisons. The control [Ensemble] is a set of
// [MLP]s r(obs, action), each fit to its own bootstrap resample with an L2
// coefficient adjusted to hold validation loss between 1.1 and 1.5 times
// training loss, normalised and averaged. It trains incrementally as labels
// arrive ([Ensemble.Add], [Ensemble.Train]), scores batches of steps for a
// policy trainer ([Ensemble.Reward]), rates candidate queries for active
// selection ([Ensemble.Disagreements]) and saves to a directory ([Ensemble.Save], [Load]).
package reward
