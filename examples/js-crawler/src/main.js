// A site crawler: pages come from the request queue (deduplicated by URL),
// each page's links within the start URLs' origins go back into it, and
// every page becomes one dataset item. Each page is finished (item pushed,
// request marked handled) before the next is taken, so when the platform
// announces a migration the crawler stops between pages and the resumed run
// takes the frontier over from the queue: every page ends in the dataset once.
import { Actor, log } from 'wactor-sdk';
import { parse } from 'node-html-parser';

await Actor.init();
const { startUrls, maxPages = 1000, maxDepth = 20, maxRetries = 2 } = await Actor.getInput();

const queue = await Actor.openRequestQueue();
const origins = new Set();
for (const start of startUrls) {
  const url = new URL(typeof start === 'string' ? start : start.url);
  origins.add(url.origin);
  await queue.addRequest({ url: url.href, userData: { depth: 0 } });
}
const state = await Actor.useState('CRAWLER_STATE', { pages: 0, failed: 0 });

function linksOf(html, base) {
  const root = parse(html);
  const page = {
    title: root.querySelector('title')?.text.trim() || null,
    heading: root.querySelector('h1')?.text.trim() || null,
    links: [],
  };
  for (const a of root.querySelectorAll('a[href]')) {
    try {
      const url = new URL(a.getAttribute('href'), base);
      url.hash = '';
      if (origins.has(url.origin) && (url.protocol === 'http:' || url.protocol === 'https:')) page.links.push(url.href);
    } catch {
      // Not a URL: skip it.
    }
  }
  return page;
}

async function handle(request) {
  const response = await fetch(request.url);
  const type = response.headers.get('content-type') ?? '';
  const body = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const page = type.includes('html') ? linksOf(body, request.url) : { title: null, heading: null, links: [] };
  const depth = request.userData?.depth ?? 0;
  if (depth < maxDepth) {
    for (const url of page.links) await queue.addRequest({ url, userData: { depth: depth + 1 } });
  }
  await Actor.pushData({ url: request.url, title: page.title, heading: page.heading, depth, links: page.links.length, status: response.status });
}

while (state.pages < maxPages && !(await queue.isFinished())) {
  // Between pages: a migrating run waits to be stopped (its work is all in the queue and the dataset).
  if (Actor.isMigrating()) {
    log.info(`migrating after ${state.pages} pages; the run goes on from the queue`);
    await Actor.setValue('CRAWLER_STATE', state);
    await Actor.waitForStop();
  }
  if (Actor.isAborting()) break;
  const request = await queue.fetchNextRequest();
  if (!request) {
    // Others hold the remaining requests (or retries are pending): look again shortly.
    await new Promise((resolve) => setTimeout(resolve, 100));
    continue;
  }
  try {
    await handle(request);
    await queue.markRequestHandled(request);
    state.pages += 1;
    if (state.pages % 25 === 0) await Actor.setStatusMessage(`Crawled ${state.pages} pages`);
  } catch (e) {
    if (request.retryCount < maxRetries) {
      log.warning(`${request.url} failed (${e.message}); retrying`);
      await queue.reclaimRequest(request);
    } else {
      log.error(`${request.url} failed ${request.retryCount + 1} times: ${e.message}`);
      state.failed += 1;
      await queue.markRequestHandled(request);
    }
  }
}

await Actor.setValue('OUTPUT', { pages: state.pages, failed: state.failed });
await Actor.exit(`Crawled ${state.pages} pages${state.failed ? `, ${state.failed} failed` : ''}`);
