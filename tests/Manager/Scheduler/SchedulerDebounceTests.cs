using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Scheduling.SchedulerHarness;

namespace Shoal.Manager.Tests.Scheduling;

/// <summary>When passes run (SwarmKit's commit debounce: 50 ms of quiet, at most 1 s), on fake time: the scheduler can
/// only pass when the test moves the clock.</summary>
public sealed class SchedulerDebounceTests
{
    [Fact]
    public async Task Pass_WaitsForAQuietGapAfterTheLastCommit()
    {
        var time = new FakeTimeProvider();
        await using var harness = new SchedulerHarness(time);
        await harness.CreateAsync(Node("node-a"));
        harness.Start();
        await harness.WatchingAsync();
        var task = Pending(Objects.Service("web"));

        await harness.CreateAsync(task);
        await Eventually.TrueAsync(() => harness.Scheduler.RelevantCommits == 1, "the scheduler saw the task's commit");
        time.Advance(TimeSpan.FromMilliseconds(49));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Equal(0, harness.Scheduler.PassesStarted);

        time.Advance(TimeSpan.FromMilliseconds(1));

        await harness.WaitAssignedAsync(task);
        Assert.Equal(1, harness.Scheduler.PassesStarted);
    }

    [Fact]
    public async Task BusyStore_DelaysAPass_NoLongerThanTheMaxLatency()
    {
        var time = new FakeTimeProvider();
        await using var harness = new SchedulerHarness(time);
        harness.Start();
        await harness.WatchingAsync();
        var task = Pending(Objects.Service("web"));
        await harness.CreateAsync(task);
        await Eventually.TrueAsync(() => harness.Scheduler.RelevantCommits == 1, "the scheduler saw the task's commit");

        // A relevant commit (a node joining) every 40 ms: never 50 ms of quiet.
        for (var i = 1; i < 25; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(40));
            await harness.CreateAsync(Node($"node-{i:00}"));
            await Eventually.TrueAsync(() => harness.Scheduler.RelevantCommits == i + 1, $"the scheduler saw commit {i + 1}");
            Assert.Equal(0, harness.Scheduler.PassesStarted);
        }

        // 960 ms after the first commit; at 1 s the pass runs although the last commit is only 40 ms old.
        time.Advance(TimeSpan.FromMilliseconds(40));

        await harness.WaitAssignedAsync(task);
        Assert.Equal(1, harness.Scheduler.PassesStarted);
    }
}
