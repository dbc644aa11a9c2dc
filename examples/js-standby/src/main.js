// A Standby Actor: every request to its Standby URL calls `fetch` in a fresh
// instance, inside a Standby run whose storages `Actor` reaches as usual.
import { Actor } from 'wactor-sdk';

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/count') {
      const store = await Actor.openKeyValueStore('js-standby-counter');
      const count = ((await store.getValue('count')) ?? 0) + 1;
      await store.setValue('count', count);
      return Response.json({ count });
    }
    if (url.pathname === '/fail') throw new Error('asked to fail');
    const body = request.method === 'POST' ? await request.text() : null;
    return Response.json({
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      run: Actor.getEnv().actorRunId,
    });
  },
};
