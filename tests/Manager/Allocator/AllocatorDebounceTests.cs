using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Allocation.AllocatorHarness;

namespace Shoal.Manager.Tests.Allocation;

/// <summary>When passes run (the scheduler's debounce: 50 ms of quiet, at most 1 s), on fake time: the allocator can
/// only pass when the test moves the clock.</summary>
public sealed class AllocatorDebounceTests
{
    [Fact]
    public async Task ABurstOfCommits_IsAllocatedInOnePass_AfterAQuietGap()
    {
        var time = new FakeTimeProvider();
        await using var harness = new AllocatorHarness(time);
        harness.Start();
        await harness.WatchingAsync();
        var web = Publishing("web", Ingress(80));
        var tasks = Enumerable.Range(1, 10).Select(slot => Objects.Task(web, slot)).ToArray();

        await harness.CreateAsync(web);
        foreach (var task in tasks)
        {
            await harness.CreateAsync(task);
        }

        await Eventually.TrueAsync(() => harness.Allocator.RelevantCommits == 11, "the allocator saw the 11 commits");
        time.Advance(TimeSpan.FromMilliseconds(49));
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Equal(0, harness.Allocator.PassesStarted);

        time.Advance(TimeSpan.FromMilliseconds(1));

        await harness.WaitPendingAsync(tasks);
        Assert.Equal(1, harness.Allocator.PassesStarted);
        Assert.Equal(1, harness.Allocator.LastPassCommits);
    }

    [Fact]
    public async Task RefusedService_DoesNotMakeTheAllocatorLoop()
    {
        var time = new FakeTimeProvider();
        await using var harness = new AllocatorHarness(time);
        var first = Publishing("first", Ingress(80, 8080));
        var later = Publishing("later", Ingress(80, 8080));
        await harness.CreateAsync(first);
        await harness.CreateAsync(later, Objects.Task(later));
        harness.Start();
        await harness.WaitAllocatedAsync(first);
        await Eventually.TrueAsync(() => harness.Allocator.PassesCompleted == 1, "the start-up pass");

        time.Advance(TimeSpan.FromSeconds(5));
        await Task.Delay(100, TestContext.Current.CancellationToken);

        Assert.Equal(1, harness.Allocator.PassesStarted);
        Assert.Null(harness.GetService(later.Id).Endpoint);
    }
}
