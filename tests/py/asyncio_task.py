# An asyncio task's coroutine makes 100 blocks across 100 awaits: each step
# runs from the event loop (Handle._run and the loop's frames below it, the
# C task step in between is hidden), and the site counts all of them.
# expect: at(main, "produce", L("make"), 4033) == (100, 100 * 4033)
# expect: pystack(main, "produce", L("make"), 4033)[0] == ("produce", L("make"))
# expect: [f for f, _ in pystack(main, "produce", L("make"), 4033)][1:] == [Q("Handle._run"), Q("BaseEventLoop._run_once"), Q("BaseEventLoop.run_forever"), Q("BaseEventLoop.run_until_complete")] + (["Runner.run"] if vt >= (3, 11) else []) + ["run", "<module>"]
import asyncio


async def produce(n):
    out = []
    for _ in range(n):
        out.append(bytes(4000))  #@make
        await asyncio.sleep(0)
    return out


async def main():
    return await asyncio.create_task(produce(100))


KEPT = asyncio.run(main())
