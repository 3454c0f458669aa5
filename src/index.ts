/**
 * weightport: ports Inception-v4 and Inception-ResNet-v2 weights between formats through one
 * canonical graph, and checks the port numerically.
 *
 *   readModel (readers) -> bindModel (schemes) -> CanonicalModel -> writeModel (writers)
 *
 * Every function here is typed; heavy engines and file libraries load only when used.
 */
export * from './api.js';
export { diffFiles, diffModels, DEFAULT_DIFF_ATOL, type DiffOptions, type DiffReport, type DiffSide, type ParamDiff, type ParamStatus } from './diff.js';
export { inspect, leftOutReason, type InspectReport, type InspectedTensor, type InspectOptions, type ChecksumStatus } from './inspect.js';
export * from './errors.js';
export * from './model.js';
export * from './tensor.js';
export * from './graphs/index.js';
export { seededModel, type SeedOptions } from './graphs/init.js';
export { withClasses, withSoftmax, foldBatchNorm, foldedGraph, ADDED_BACKGROUND_BIAS } from './graphs/transforms.js';
export { hwioToOihw, oihwToHwio, transpose2d } from './graphs/layout.js';
export * from './graphs/schemes/index.js';
export * from './readers/index.js';
export * from './writers/index.js';
export { writeOutputs, checkOutput } from './io/output.js';
export { checkParity, checkConversion, DEFAULT_ATOL, type CheckParityOptions, type CheckConversionOptions, type EngineChoice } from './parity/check.js';
export { ENGINES, ENGINE_NAMES, type Engine, type EngineName, type EngineRun, type Availability } from './parity/engines.js';
export { renderReport, REPORT_SCHEMA, type ParityReport, type Comparison, type BlockDiff, type FirstDivergence, type EngineEntry, type ReportFormat } from './parity/report.js';
export { loadInput, preprocess, decodeImage, type NchwInput } from './parity/image.js';
export { defaultInput } from './parity/input.js';
