export { joinDistributedRun, run, type RunOptions } from './run';
export { verifyRun, type VerifyResult } from './verify';
export { RunFolderError, type ArtefactRole, type Manifest, type ManifestEntry, type RunFolderProblem } from './folder';
export { bestStudent, markdownTable, methodLabel, plainTable, tableRows, type ModelReport, type RunReport } from './report';
export { runSeeds, seedsMarkdown, type SeedsReport, type SeedStudentSummary } from './seeds';
export type { Verdict, Conclusion } from './verdict';
export type { SweepReport, CandidateReport } from './selection';
