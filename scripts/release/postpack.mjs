// postpack of every published @natgrad package: puts back the manifest that prepack.mjs saved, so
// the working tree keeps its `natgrad-source` condition (tsc and vitest resolve src/ through it).
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUP_NAME } from './manifest.mjs';

const backupPath = join(process.cwd(), BACKUP_NAME);
if (existsSync(backupPath)) renameSync(backupPath, join(process.cwd(), 'package.json'));
