using Microsoft.Extensions.Time.Testing;
using Shoal.Api;
using Shoal.Ca.Tls;
using Shoal.Manager.Dispatcher;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Dispatching;

/// <summary>The dispatcher's clock-driven rules on fake time, called directly (no gRPC): exact TTL and grace bounds.</summary>
public sealed class HeartbeatTimingTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task ANodeThatHeartbeats_StaysReady_AndGoesDownThreePeriodsAfterItsLastHeartbeat()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var store = new MemoryStore(timeProvider: time);
        var node = Objects.Node(id: "worker1");
        node.Status = new NodeStatus { State = NodeState.Down };
        await store.UpdateAsync(tx => tx.Create(node), TestContext.Current.CancellationToken);
        var dispatcher = new Manager.Dispatcher.Dispatcher(store, new DispatcherOptions { DefaultHeartbeatPeriod = Period }, time);
        using var leading = new CancellationTokenSource();
        var run = dispatcher.RunAsync(leading.Token);
        await Eventually.TrueAsync(() => dispatcher.IsRunning, "the dispatcher running");

        var messages = System.Threading.Channels.Channel.CreateUnbounded<SessionMessage>();
        using var call = new CancellationTokenSource();
        var session = dispatcher.RunSessionAsync(
            new PeerIdentity(node.Id, NodeRole.Worker, "cluster"), "10.0.0.7", null, new SessionRequest(),
            (m, ct) => messages.Writer.WriteAsync(m, ct).AsTask(), call.Token);
        var first = await AdvanceUntilAsync(time, messages.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask());
        Assert.Equal(NodeState.Ready, first.Node.Status.State);
        Assert.Equal(Period, first.HeartbeatPeriod.ToTimeSpan());

        for (var i = 0; i < 10; i++)
        {
            time.Advance(Period);
            var next = dispatcher.Heartbeat(node.Id, first.SessionId);
            Assert.InRange(next, Period * 0.9, Period * 1.1);
        }

        var version = store.Version;
        time.Advance(Period * 3 - TimeSpan.FromMilliseconds(1));
        Assert.Equal(NodeState.Ready, store.View().Nodes.Get(node.Id)!.Status.State);
        Assert.Equal(version, store.Version);

        time.Advance(TimeSpan.FromMilliseconds(1));
        var ended = await Assert.ThrowsAsync<DispatcherException>(() => session);
        Assert.Equal(DispatcherErrorKind.SessionNotFound, ended.Kind);
        await AdvanceUntilAsync(time, Eventually.TrueAsync(() => store.View().Nodes.Get(node.Id)!.Status.State == NodeState.Down, "the node DOWN"));
        Assert.Equal(Manager.Dispatcher.Dispatcher.HeartbeatFailure, store.View().Nodes.Get(node.Id)!.Status.Message);
        Assert.Throws<DispatcherException>(() => dispatcher.Heartbeat(node.Id, first.SessionId));

        await leading.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.False(dispatcher.IsRunning);
    }

    [Fact]
    public async Task AfterALeaderChange_UnregisteredNodesGoDownAtTheEndOfSixPeriods_AndNotBefore()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var store = new MemoryStore(timeProvider: time);
        var nodes = Enumerable.Range(0, 30).Select(i => Objects.Node($"n{i}")).ToList();
        nodes[0].Status = new NodeStatus { State = NodeState.Down, Message = "was down" };
        await store.UpdateAsync(tx => nodes.ForEach(tx.Create), TestContext.Current.CancellationToken);
        var dispatcher = new Manager.Dispatcher.Dispatcher(store, new DispatcherOptions { DefaultHeartbeatPeriod = Period }, time);
        using var leading = new CancellationTokenSource();
        var before = store.Version;

        var run = dispatcher.RunAsync(leading.Token);
        await Eventually.TrueAsync(() => dispatcher.IsRunning, "the dispatcher running");

        Assert.Equal(1UL, store.Version - before);
        Assert.All(nodes.Skip(1), n => Assert.Equal(NodeState.Unknown, store.View().Nodes.Get(n.Id)!.Status.State));
        Assert.Equal("was down", store.View().Nodes.Get(nodes[0].Id)!.Status.Message);

        time.Advance(Period * 6 - TimeSpan.FromMilliseconds(1));
        await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.All(nodes.Skip(1), n => Assert.Equal(NodeState.Unknown, store.View().Nodes.Get(n.Id)!.Status.State));

        time.Advance(TimeSpan.FromMilliseconds(1));
        await AdvanceUntilAsync(time, Eventually.TrueAsync(
            () => nodes.Skip(1).All(n => store.View().Nodes.Get(n.Id)!.Status.State == NodeState.Down), "every unregistered node DOWN"));
        Assert.Equal(2UL, store.Version - before);

        await leading.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    /// <summary>Moves fake time in small steps (driving the write batches) until <paramref name="task"/> completes.</summary>
    private static async Task<T> AdvanceUntilAsync<T>(FakeTimeProvider time, Task<T> task)
    {
        await AdvanceUntilAsync(time, (Task)task);
        return await task;
    }

    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Task task)
    {
        for (var i = 0; i < 1000 && !task.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(10));
            await Task.WhenAny(task, Task.Delay(5, TestContext.Current.CancellationToken));
        }

        await task;
    }
}
