export { run, type RunOptions } from './run';
export { bestStudent, markdownTable, methodLabel, plainTable, tableRows, type ModelReport, type RunReport } from './report';
