/**
 * Entry point of `npm run demo` (scripts/demo.sh runs `node dist/demo/run.js [--keep|--down]`).
 *
 * The lab harness reads its root directory from RTC_LAB_ROOT when it is first imported,
 * so this file sets the demo's own root (`/tmp/rtc-demo`) before loading the driver: the
 * demo's namespaces, daemons and data roots then live apart from every test lab, and a
 * later run sweeps exactly what an earlier demo left behind.
 */
process.env.RTC_LAB_ROOT ??= '/tmp/rtc-demo';
const { main } = await import('./main.js');
// Exit explicitly: with --keep the daemons it started stay running (and referenced).
process.exit(await main(process.argv.slice(2)));
