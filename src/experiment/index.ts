export { joinDistributedRun, run, type RunOptions } from './run';
export { verifyRun, type VerifyResult } from './verify';
export { RunFolderError, type ArtefactRole, type Manifest, type ManifestEntry, type RunFolderProblem } from './folder';
export { bestStudent, markdownTable, methodLabel, plainTable, tableRows, type ModelReport, type RunReport } from './report';
