import { openDatabase } from '../src/db/embedded.js';
const db = await openDatabase({ embedded: 'java' } as never);
console.log(db.uri);
await new Promise(() => {});
