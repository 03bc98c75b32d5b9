using Shoal.Api;
using Shoal.Manager.Orchestrator;
using Shoal.TestKit;
using static Shoal.Manager.Tests.Orchestrator.OrchestratorHarness;

namespace Shoal.Manager.Tests.Orchestrator;

/// <summary>Failover: a new leader's loops check everything at start; a loop that throws is started again.</summary>
public sealed class LeadershipTests
{
    [Fact]
    public async Task WorkMissedWhileNoLeaderRan_IsDoneWhenTheLoopsStart()
    {
        var node = Node("a");
        var web = Replicated("web", 2, Restart());
        var agent = Global("agent");
        await using var harness = await StartAsync(node, web, agent);
        await harness.WaitActiveAsync(web.Id, 2);
        await harness.WaitActiveAsync(agent.Id, 1);
        await harness.RunAllAsync(web.Id, node.Id);
        var failed = harness.Active(web.Id).Single(t => t.Slot == 1);

        await harness.StopLoopsAsync();
        await harness.ChangeServiceAsync(web.Id, s => s.Spec.Replicated.Replicas = 4);
        await harness.ReportAsync(failed.Id, TaskState.Failed);
        var joined = Node("b");
        await harness.CreateAsync(joined);
        await harness.StartLoopsAsync();

        await harness.WaitActiveAsync(web.Id, 4);
        await harness.WaitDesiredAsync(failed.Id, TaskState.Shutdown);
        Assert.Equal([1L, 2L, 3L, 4L], harness.Active(web.Id).Select(t => t.Slot).Order());
        await harness.WaitAsync(() => harness.Active(agent.Id).Any(t => t.NodeId == joined.Id), "the global task on the node that joined meanwhile");
    }

    [Fact]
    public async Task LoopThatThrows_IsLoggedAndStartedAgainAfterTheBackoff()
    {
        await using var harness = new OrchestratorHarness();
        var calls = 0;
        using var stop = new CancellationTokenSource();
        var supervised = harness.Loops.SuperviseAsync("test loop", _ =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                throw new InvalidOperationException("injected failure");
            }

            return Task.CompletedTask;
        }, stop.Token);

        await Eventually.TrueAsync(() => Volatile.Read(ref calls) == 1, "the first run");
        Assert.Equal(0, harness.Loops.Restarted);
        Assert.False(supervised.IsCompleted);

        // The backoff timer may not be armed yet when the clock first moves: move it until the loop ran again.
        await Eventually.TrueAsync(() =>
        {
            harness.Time.Advance(OrchestratorHarness.Options.RestartBackoff);
            return supervised.IsCompleted;
        }, "the loop started again after the backoff");
        await supervised;
        Assert.Equal(2, calls);
        Assert.Equal(1, harness.Loops.Restarted);
    }
}
