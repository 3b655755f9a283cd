export { joinDistributedRun, run, type RunOptions } from './run';
export { verifyRun, type VerifyResult } from './verify';
export { bestStudent, markdownTable, methodLabel, plainTable, tableRows } from './report';
export type { ModelReport, RunReport, TeacherReport } from './report-types';
export { runSeeds, seedsMarkdown, type SeedsReport, type SeedStudentSummary } from './seeds';
export type { Verdict, Conclusion } from './verdict';
export type { SweepReport, CandidateReport, PairedComparison, FoldScores } from './selection';
