/**
 * Entry of every Bree worker when the app runs from TypeScript sources (`npm start`, tests).
 * `--import tsx` in a worker's execArgv does not reach the worker's entry on Node 20, so the worker
 * registers tsx itself and then imports the job named in workerData.entry. From a build
 * (`npm run start:prod`) the scheduler points Bree at the compiled jobs and this file is not used.
 */
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
