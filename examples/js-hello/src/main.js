// Greets `name`: pushes `count` greetings to the default dataset and writes a
// summary to OUTPUT. The same code runs on Apify with `import { Actor } from 'apify'`.
import { Actor } from 'wactor-sdk';

await Actor.init();

const { name, count } = await Actor.getInput();
const greeting = `Hello, ${name}!`;
console.log(greeting);

const items = Array.from({ length: count }, (_, index) => ({ greeting, index }));
await Actor.pushData(items);
await Actor.setValue('OUTPUT', { greeting, count });
await Actor.setStatusMessage(`Greeted ${name} ${count} time(s)`);

await Actor.exit();
