// Types for fer-browser's public API (hand-written; the JSDoc in the .js files says the same).
import type * as tf from '@tensorflow/tfjs';

/** A box in the input's own pixels (a video's frame, an image's file), top-left origin. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Pixels: anything TF.js's fromPixels reads, or an RGB [H, W, 3] tensor (still images only). */
export type PixelInput =
  | HTMLVideoElement
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageBitmap
  | ImageData
  | tf.Tensor3D;

/** What estimateFaces and detectFaces read: pixels, or the URL of an image (relative to the page; fetched and decoded, EXIF orientation applied). */
export type RecognizerInput = PixelInput | string | URL;

/**
 * Every URL is optional: by default the files the installed package carries, found from the
 * library's own URL (import.meta.url) when it is loaded unbundled, or in `fer-browser/` beside the
 * page when a bundler merged it (copy the package there; see the package README).
 */
export interface RecognizerOptions {
  /** Folder URL holding the package's files (models/, web/face_pipeline.json) and the .wasm files: the base of every default below. */
  filesUrl?: string | URL;
  /** Folder URL of an exported model: metadata.json and tfjs/model.json (+ weight shards). */
  modelUrl?: string | URL;
  /** URL of face_pipeline.json (detector, tracking, smoothing and cadence settings). */
  detectorUrl?: string | URL;
  /** URL of the BlazeFace model.json; default: the package's models/blazeface/blazeface.json, or, with detectorUrl, its detector.weights beside it. */
  detectorWeightsUrl?: string | URL;
  /** TF.js backend: 'wasm' (default), 'webgl', 'cpu', ...; one that fails to start rejects createRecognizer. */
  backend?: string;
  /** Folder URL serving tfjs-backend-wasm's .wasm files, for backend 'wasm'; default: the installed @tensorflow/tfjs-backend-wasm/dist/ (unbundled) or filesUrl. */
  wasmPaths?: string;
  /** Overrides merged into face_pipeline.json's sections, e.g. { smoothing: { alpha: 1 } }. */
  pipeline?: Partial<{ [S in keyof PipelineConfig]: Partial<PipelineConfig[S]> }>;
  /** Prior correction strength tau in [0, 2] (0 = off); default: metadata.json's prior.strength (0 without a prior). */
  priorStrength?: number;
}

export interface EstimateOptions {
  /** Successive frames of one video: detector on a cadence, tracker in between, stable ids. Default false. */
  track?: boolean;
  /** With track: smooth each face's probabilities (EMA, face_pipeline.json's alpha). Default true. */
  smooth?: boolean;
  /** With track: the frame's time in ms (default performance.now()). */
  timestamp?: number;
  /**
   * With track: the page's own work on a frame outside estimateFaces, in ms (copying the frame,
   * drawing the results; the previous frame's is a fair estimate). The detector's and the model's
   * cadences count it in the frame budget (1000 / targetFps). Default 0.
   */
  pageMs?: number;
  /** Benchmarks only: 'full' lets TF.js resize the whole frame for the detector. */
  detectorInput?: 'downscaled' | 'full';
  /** Benchmarks only: 'full' reads the whole frame for the emotion model. */
  modelInput?: 'regions' | 'full';
  /** Benchmarks only: true pads the detector's input to its square instead of keeping the frame's aspect. */
  detectorLetterbox?: boolean;
  /**
   * Also give each face the model's raw outputs, `embedding` and `logProbs` (not enumerable: absent
   * from JSON and the face schema), to record a profile with fitHead. Needs a model with an embedding.
   */
  features?: boolean;
}

/**
 * One face: web/schemas/face-result.schema.json, the same object as the Python API's
 * RecognizedFace.to_dict() and each face of `fer-predict image --json` (faces left to right).
 */
export interface Face {
  /** With track: the face's stable id while it stays in view (absent otherwise). */
  id?: number;
  box: Box;
  /** The most probable class. */
  label: string;
  /** Its probability, probabilities[label] (calibrated when the model's metadata has calibration, smoothed with track). */
  confidence: number;
  /** Every class's probability, by class name, in the model's class order. */
  probabilities: Record<string, number>;
  /** The face detector's confidence (0..1). */
  detector_score: number;
  /** @deprecated use `confidence` (not enumerable: absent from JSON). */
  readonly score: number;
  /** @deprecated use `detector_score` (not enumerable: absent from JSON). */
  readonly faceScore: number;
  /** With `features: true` only: the model's embedding of this face (not enumerable). */
  readonly embedding?: Float32Array;
  /** With `features: true` only: the model's own log-probabilities, model class order, before calibration, prior or profile (not enumerable). */
  readonly logProbs?: Float32Array;
}

export interface DetectedBox extends Box {
  score: number;
}

export interface Timings {
  /** The detector's time on this call, or null when the tracker carried the boxes. */
  detectorMs: number | null;
  /** The emotion model's time per face, or null without faces. */
  modelMs: number | null;
  /** With track: the detector runs every `every` frames at present. */
  every: number;
  totalMs: number;
  /** With track: how many faces the model read on this frame (the others kept their labels). */
  facesRead?: number;
}

export interface DetectorConfig {
  name?: string;
  weights: string;
  inputSize: number;
  inputRange: [number, number];
  featureMaps: { stride: number; anchors: number; boxes: string; scores: string }[];
  scoreThreshold: number;
  iouThreshold: number;
  merge: 'weighted';
  maxFaces: number;
  minSize: number;
}

/** face_pipeline.json (schema fer-face-pipeline/1). */
export interface PipelineConfig {
  schema: 'fer-face-pipeline/1';
  detector: DetectorConfig;
  tracking: { matchIou: number; matchDistance: number; maxMissed: number; maxMissedMs: number; velocitySmoothing: number; redetectDrift: number };
  smoothing: { method: 'ema'; alpha: number; intervalMs?: number };
  cadence: { targetFps: number; minEvery: number; maxEvery: number; maxIntervalMs: number; timingSmoothing: number; labelMaxAgeMs?: number };
}

/** The fields of a model's metadata.json the browser reads (schema fer-model-metadata/1). */
/** metadata.json; its full definition and bounds: web/schemas/model-metadata.schema.json (checkMetadata applies it). */
export interface ModelMetadata {
  schema: 'fer-model-metadata/1';
  classes: string[];
  input: { height: number; width: number; channels: 1; layout: 'NCHW' | 'NHWC'; dtype?: 'float32' };
  preprocessing: { color: 'grayscale'; grayscale_weights: [number, number, number]; pixel_scale: number; mean: number; std: number; resize: 'area' };
  crop: { shape: 'square'; scale: number; shift_y: number; fill: number };
  /** embedding: the graph's second output (name, values per face); absent in single-output exports */
  model: { name: string; output?: 'log_softmax' | 'logits'; embedding?: { output: string; size: number } };
  calibration?: { version: 1; method?: 'temperature'; temperature: number };
  /** Training-set class frequencies (metadata order) and the default prior-correction strength tau. */
  prior?: { version: 1; probabilities: number[]; strength: number; source: string };
  /** false: `python -m convert` had no labelled data to check the accuracy with (--synthetic) */
  accuracy_checked?: boolean;
  [key: string]: unknown;
}

/** Load the emotion model and the face detector (and pick the TF.js backend). */
export function createRecognizer(options: RecognizerOptions): Promise<Recognizer>;

export class Recognizer {
  /** The faces' classes: the model's, or with a profile active the profile's visible classes. */
  readonly classes: string[];
  /** The active personal profile, or null. */
  readonly profile: Profile | null;
  /**
   * Read every face through a profile from now on (null: the model alone). Throws a one-line
   * ProfileError for a profile of another model and keeps the current one. Restarts smoothing.
   * With a profile, the prior correction (priorStrength) and calibration do not apply: the head works
   * on the model's own log-probabilities.
   */
  setProfile(profile: Profile | null): void;
  readonly metadata: ModelMetadata;
  readonly config: PipelineConfig;
  /** The TF.js backend in use. */
  readonly backend: string;
  readonly model: EmotionModel;
  readonly detector: FaceDetector;
  /** tau of the prior correction: z = log(p) / T - tau * log(prior); 0 = off (settable, [0, 2]). */
  priorStrength: number;
  /** Timings of the last estimateFaces call. */
  readonly lastTimings: Timings | null;
  /** Every face in the input, left to right (box x, ties by y). Await one call before making the next. */
  estimateFaces(input: RecognizerInput, options?: EstimateOptions): Promise<Face[]>;
  /** The face detector alone, on the whole input. */
  detectFaces(input: RecognizerInput): Promise<DetectedBox[]>;
  /** Forget tracked faces (a new video, or after a pause). */
  reset(options?: { frameRate?: number }): void;
  /** Free the models' memory. */
  dispose(): void;
}

/** The URLs createRecognizer uses when none is given (each resolved against filesUrl when given). */
export function defaultUrls(filesUrl?: string | URL): {
  filesUrl: string; modelUrl: string; detectorUrl: string; detectorWeightsUrl: string; wasmPaths: string;
};

/** Switch TF.js's backend; rejects in one line when it cannot start. */
export function setBackend(name?: string, options?: { wasmPaths?: string }): Promise<string>;

// ---- building blocks, for pages that run their own loop ----

export class EmotionModel {
  static load(modelUrl: string | URL): Promise<EmotionModel>;
  readonly classes: string[];
  readonly meta: ModelMetadata;
  readonly temperature: number;
  readonly prior: number[] | null;
  readonly priorStrength: number;
  setPriorStrength(tau: number): void;
  /** Normalised model inputs (n x H x W floats) -> uncalibrated probabilities, n rows. */
  predictNormalized(data: Float32Array, n: number): Promise<number[][]>;
  /** Calibrated probabilities for each box of an RGB [H, W, 3] frame. */
  classifyFrame(rgb: tf.Tensor3D, boxes: Box[]): Promise<number[][]>;
  classifyRegions(faces: { rgb: tf.Tensor3D; box: Box }[]): Promise<number[][]>;
  cropRegion(box: Box, width: number, height: number): Box | null;
  /** Whether the export has the embedding output (metadata model.embedding), and its values per face. */
  readonly hasEmbedding: boolean;
  readonly embeddingSize: number;
  /** Probabilities (as classifyFrame's), raw log-probabilities and embeddings; reject without the embedding. */
  embedNormalized(data: Float32Array, n: number): Promise<EmotionOutputs>;
  embedFrame(rgb: tf.Tensor3D, boxes: Box[]): Promise<EmotionOutputs>;
  embedRegions(faces: { rgb: tf.Tensor3D; box: Box }[]): Promise<EmotionOutputs>;
  dispose(): void;
}

export interface EmotionOutputs {
  probabilities: number[][];
  logProbs: Float32Array[];
  embeddings: Float32Array[];
}

export class FaceDetector {
  static load(weightsUrl: string | URL, cfg: DetectorConfig): Promise<FaceDetector>;
  readonly cfg: DetectorConfig;
  detect(source: PixelInput, scale?: number): Promise<DetectedBox[]>;
  dispose(): void;
}

export interface Track {
  id: number;
  box: Box;
  score: number;
}

export class FaceTracker {
  constructor(cfg: PipelineConfig['tracking']);
  readonly tracks: { id: number; missed: number }[];
  update(boxes: DetectedBox[], t: number): Track[];
  predict(t: number): Track[];
  wantsDetection(t: number): boolean;
  reset(): void;
}

export class DetectionCadence {
  constructor(cfg: PipelineConfig['cadence']);
  readonly every: number;
  due(t: number, urgent?: boolean): boolean;
  record(t: number, detMs: number | null, restMs: number): void;
  reset(): void;
}

export class EmaSmoother {
  /** alpha: the newest reading's weight; intervalMs > 0: per intervalMs of time instead of per reading. */
  constructor(alpha: number, intervalMs?: number);
  alpha: number;
  intervalMs: number;
  /** The newest reading's weight dt ms after the face's previous one. */
  weight(dt: number): number;
  /** t: the reading's time in ms (used with intervalMs > 0). */
  update(id: number, probs: number[], t?: number): number[];
  retain(ids: Iterable<number>): void;
  reset(): void;
}

/** z = log(p) / T - tau * log(prior), softmax(z): the correction the recognizer applies to each face. */
export function adjustProbabilities(logp: ArrayLike<number>, temperature?: number, prior?: ArrayLike<number> | null, strength?: number): number[];
/** [lowest, highest] prior-correction strength, read from web/schemas/model-metadata.schema.json. */
export const PRIOR_STRENGTH_RANGE: [number, number];
export function iou(a: Box, b: Box): number;
export function cropSquare(box: Box, crop: ModelMetadata['crop']): { x: number; y: number; side: number };
export function cropRegion(box: Box, crop: ModelMetadata['crop'], width: number, height: number): Box | null;
/** Anchor centres of an input of width x height pixels (default: the inputSize square). */
export function makeAnchors(cfg: DetectorConfig, width?: number, height?: number): [number, number][];
/** Boxes in [0, 1] of the input (x of its width, y of its height); width x height as for makeAnchors. */
export function decode(boxes: Float32Array, logits: Float32Array, anchors: [number, number][], cfg: DetectorConfig,
  width?: number, height?: number): DetectedBox[];
export function checkPipelineConfig(cfg: unknown, where?: string, overrides?: RecognizerOptions['pipeline']): PipelineConfig;
export function checkMetadata(meta: unknown, where?: string): ModelMetadata;
/** A document that breaks its contract; the message is one line, 'WHERE: PATH must ...'. */
export class SchemaError extends Error {}
/** `doc` if it keeps the contract's JSON Schema (web/schemas/CONTRACT.schema.json), else throws a SchemaError; e.g. validate(face, 'face-result', 'face 0'). */
export function validate<T = unknown>(doc: T, contract: 'model-metadata' | 'face-pipeline' | 'manifest' | 'parity-report' | 'face-result' | 'adaptation' | 'profile', where: string): T;
export const PIPELINE_SCHEMA: 'fer-face-pipeline/1';
export const METADATA_SCHEMA: 'fer-model-metadata/1';

// ---- "Calibrate to me": personal profiles ----

/** A fitted head: weights d x K, bias K, the embedding's center (d) and scale, recorded faces per class. */
export interface Head {
  weights: number[][];
  bias: number[];
  center: number[];
  scale: number;
  counts: number[];
}

/** A personal profile, web/schemas/profile.schema.json (fer-profile/1). */
export interface Profile {
  schema: 'fer-profile/1';
  model: { weights_sha256: string; classes: string[] };
  /** The model's classes, then the user's own. */
  classes: string[];
  hidden: string[];
  counts: number[];
  head: { weights: number[][]; bias: number[]; center: number[]; scale: number };
  settings: { steps: number; weight_decay: number; bias_decay: number };
  created?: string;
}

/** web/adaptation.json (fer-adaptation/1): the fit's settings and the page's recording settings. */
export interface AdaptationSettings {
  schema: 'fer-adaptation/1';
  fit: { steps: number; weight_decay: number; bias_decay: number };
  recording: { frames: number; countdown_ms: number };
  [key: string]: unknown;
}
export const ADAPTATION: AdaptationSettings;
export class AdaptationError extends Error {}
/** Fit a head on recorded faces: labels index the model's classes, then custom ones; prior: metadata.prior.probabilities or null. */
export function fitHead(embeddings: ArrayLike<number>[], logProbs: ArrayLike<number>[], labels: number[], nClasses: number,
  prior?: ArrayLike<number> | null, settings?: AdaptationSettings): Head;
export function headProbabilities(head: Profile['head'], embedding: ArrayLike<number>, logp: ArrayLike<number>, hidden?: number[]): number[];
export const PROFILE_SCHEMA: 'fer-profile/1';
/** A profile that cannot be made, read or used with this model; the message is one line. */
export class ProfileError extends Error {}
export function checkProfile(doc: unknown, meta: ModelMetadata, where: string): Profile;
export function makeProfile(head: Head, meta: ModelMetadata, custom?: string[], hidden?: string[],
  settings?: AdaptationSettings, created?: string | null): Profile;
/** A profile file's text, checked for this model (size, JSON, schema, digest); ProfileError otherwise. */
export function parseProfile(text: string, meta: ModelMetadata, where?: string): Profile;
/** Probabilities over profile.classes for one face (hidden classes 0). */
export function profileProbabilities(profile: Profile, embedding: ArrayLike<number>, logProbs: ArrayLike<number>): number[];
