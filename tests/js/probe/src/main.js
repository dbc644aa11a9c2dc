import { Actor, Dataset, KeyValueStore, log } from 'wactor-sdk';
import { describe } from './helper.js';

await Actor.init();
const input = await Actor.getInput();
log.info(`probe ${describe(input)}`);

switch (input.mode) {
  case 'throw':
    throw new Error('the probe threw on purpose');
  case 'fail':
    await Actor.fail('the probe failed on purpose');
    break;
  case 'exit-code':
    await Actor.exit({ exitCode: 3 });
    break;
  case 'loop':
    for (;;) {}
  case 'bomb': {
    const hoard = [];
    for (;;) hoard.push(new Array(1 << 20).fill(1.5));
  }
  case 'storages': {
    const kv = await KeyValueStore.open('js-probe-store');
    await kv.setValue('text', 'plain text', { contentType: 'text/plain' });
    await kv.setValue('bytes', new Uint8Array([1, 2, 3]), { contentType: 'application/octet-stream' });
    await kv.setValue('json', { a: 1 });
    const ds = await Dataset.open('js-probe-items');
    await ds.pushData([{ n: 1 }, { n: 2 }]);
    const info = await ds.getInfo();
    const page = await ds.getData({ offset: 1, limit: 5 });
    const q = await Actor.openRequestQueue();
    const added = await q.addRequest({ url: 'http://127.0.0.1/a', userData: { depth: 1 } });
    const again = await q.addRequest('http://127.0.0.1/a');
    const r = await q.fetchNextRequest();
    const held = { empty: await q.isEmpty(), finished: await q.isFinished() };
    await q.markRequestHandled(r);
    await Actor.setValue('OUTPUT', {
      text: await kv.getValue('text'),
      bytes: Array.from(await kv.getValue('bytes')),
      json: await kv.getValue('json'),
      missing: await kv.getValue('missing'),
      itemCount: info.itemCount,
      page: page.items,
      added: added.wasAlreadyPresent,
      again: again.wasAlreadyPresent,
      fetched: r.userData,
      finished: await q.isFinished(),
      held,
      env: Actor.getEnv().actorRunId === (await Actor.getValue('INPUT')) ? 'no' : 'ok',
    });
    break;
  }
  case 'charge': {
    const result = await Actor.pushData([{ p: 1 }, { p: 2 }, { p: 3 }], 'page');
    await Actor.setValue('OUTPUT', { result, counted: Actor.getChargingManager().getChargedEventCount('page') });
    break;
  }
  case 'fetch': {
    const response = await fetch(input.url);
    await Actor.setValue('OUTPUT', { status: response.status, body: await response.text() });
    break;
  }
  case 'state': {
    // Counts steps in persisted state; on `migrating` it stops taking steps and waits to be stopped.
    const state = await Actor.useState('STATE', { step: 0, persisted: 0 });
    Actor.on('persistState', () => {
      state.persisted += 1;
    });
    while (state.step < input.steps) {
      if (Actor.isMigrating()) await Actor.waitForStop();
      state.step += 1;
      await Actor.setStatusMessage(`step ${state.step}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await Actor.setValue('OUTPUT', { steps: state.step });
    break;
  }
  default:
    throw new Error(`unknown mode ${input.mode}`);
}
await Actor.exit('probe done');
