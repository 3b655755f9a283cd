import * as fs from 'node:fs';
import * as path from 'node:path';

/** Writes a file through a temporary name and a rename: readers never see half a file. */
export function writeFileAtomic(file: string, contents: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = path.join(path.dirname(file), `.tmp-${process.pid}-${path.basename(file)}`);
  try {
    fs.writeFileSync(temporary, contents);
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}
