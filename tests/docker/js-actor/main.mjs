// The real apify SDK for JavaScript. Actor.init() answers `migrating`
// with Actor.reboot(), as on Apify: the test shuts the server down while
// the first start waits, and checks that the reboot becomes the migration.
import { Actor } from 'apify';

await Actor.init();
const store = await Actor.openKeyValueStore();
const starts = ((await store.getValue('STARTS')) ?? 0) + 1;
await store.setValue('STARTS', starts);
console.log(`start ${starts}`);
if (starts === 1) {
    await new Promise((resolve) => setTimeout(resolve, 60_000));
}
await Actor.setValue('OUTPUT', { starts });
await Actor.exit();
