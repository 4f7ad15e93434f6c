// Prior correction, the browser's copy of training.calibration.adjusted_probabilities (one order,
// both languages; tests/conformance/prior_correction.json holds the vectors both must reproduce):
//   z = log(p) / T - tau * log(prior),  probs = softmax(z)
// T is metadata.calibration.temperature (1 without it); prior and tau come from metadata.prior.
// tau = 0 is the model as trained; tau = 1 divides out the training set's class frequencies.
import metadataSchema from '../schemas/model-metadata.schema.json' with { type: 'json' };

/** [lowest, highest] prior strength, from the metadata schema (the bounds Python reads too). */
export const PRIOR_STRENGTH_RANGE = (({ minimum, maximum }) => [minimum, maximum])(
  metadataSchema.properties.prior.properties.strength,
);

/**
 * @param {ArrayLike<number>} logp the model's log-probabilities for one face
 * @param {number} temperature
 * @param {ArrayLike<number> | null} prior class frequencies, or null (no correction)
 * @param {number} strength tau
 * @returns {number[]}
 */
export function adjustProbabilities(logp, temperature = 1, prior = null, strength = 0) {
  const z = Array.from(logp, (v, k) => v / temperature - (prior && strength ? strength * Math.log(prior[k]) : 0));
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/**
 * A prior strength the model can use: a number in PRIOR_STRENGTH_RANGE, and 0 unless the model has a prior.
 * @param {any} tau
 * @param {boolean} hasPrior
 */
export function checkPriorStrength(tau, hasPrior) {
  const [low, high] = PRIOR_STRENGTH_RANGE;
  if (!(typeof tau === 'number' && Number.isFinite(tau) && tau >= low && tau <= high)) {
    throw new Error(`prior strength must be a number in [${low}, ${high}], got ${JSON.stringify(tau)}`);
  }
  if (tau && !hasPrior) throw new Error('this model has no prior in its metadata.json, so it cannot be balanced');
  return tau;
}
