// fer-browser: facial-expression recognition in the browser with TF.js (types: index.d.ts).
//
//   const recognizer = await createRecognizer();  // the package's model, settings and detector (defaults.js)
//   const faces = await recognizer.estimateFaces(imageOrVideoOrCanvasOrUrl);  // [{box, label, confidence, probabilities, detector_score}]
//   recognizer.dispose();
//
// The building blocks below are exported for pages that need their own loop; no module here keeps
// global state, and only defaults.js knows where the package's files are.
export { createRecognizer, Recognizer } from './recognizer.js';
export { setBackend } from './backend.js';
export { defaultUrls } from './defaults.js';
export { EmotionModel } from './emotion.js';
export { FaceDetector } from './detector.js';
export { FaceTracker, DetectionCadence } from './tracker.js';
export { EmaSmoother } from './smoothing.js';
export { adjustProbabilities, PRIOR_STRENGTH_RANGE } from './prior.js';
export { iou, cropSquare, cropRegion } from './geometry.js';
export { makeAnchors, decode } from './blazeface.js';
export { checkPipelineConfig, checkMetadata, PIPELINE_SCHEMA, METADATA_SCHEMA } from './config.js';
export { validate, SchemaError } from './schema.js';
// "Calibrate to me": fit a head on a person's recorded faces, keep it as a profile (recognizer.setProfile)
export { ADAPTATION, AdaptationError, fitHead, headProbabilities } from './adaptation.js';
export { PROFILE_SCHEMA, ProfileError, checkProfile, makeProfile, parseProfile, profileProbabilities } from './profile.js';
