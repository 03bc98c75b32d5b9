using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Manager.Tests.Dispatching;
using Shoal.TestKit;

namespace Shoal.Agent.Tests;

/// <summary>Real agents against real dispatchers over mutual TLS on loopback.</summary>
public sealed class AgentSessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WhenItsManagersDispatcherStops_TheAgentRegistersWithAnotherManager()
    {
        await using var harness = await DispatcherHarness.StartAsync(managers: 2);
        var worker = harness.Issue();
        var sessions = new List<SessionEstablishedEventArgs>();
        var session = harness.Agent(worker, manager: 0);
        session.SessionEstablished += (_, e) =>
        {
            lock (sessions)
            {
                sessions.Add(e);
            }
        };
        await using var agent = new RunningAgent(session);
        await Eventually.TrueAsync(() => session.IsConnected && session.Managers.Count == 2, "the agent connected and told of both managers");
        Assert.Equal(harness.Managers[0].HostPort, session.ManagerAddress);

        // Leadership moves: the first manager's dispatcher stops, the second one's starts.
        await harness.Managers[0].StopAsync();
        harness.Managers[1].Start();

        await Eventually.TrueAsync(() => session.ManagerAddress == harness.Managers[1].HostPort, "the agent connected to the second manager");
        await Eventually.TrueAsync(() => harness.StateOf(worker.NodeId) == NodeState.Ready, "the worker READY again");
        await Eventually.TrueAsync(
            () =>
            {
                lock (sessions)
                {
                    return sessions.Count == 2;
                }
            },
            "SessionEstablished raised for the second session");
        lock (sessions)
        {
            Assert.Equal([harness.Managers[0].HostPort, harness.Managers[1].HostPort], sessions.Select(s => s.ManagerAddress));
            Assert.NotEqual(sessions[0].SessionId, sessions[1].SessionId);
        }
    }

    [Fact]
    public async Task TheAgent_KeepsItsSinkInStepWithTheStore_AndReportsStatusesUntilAccepted()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        var sink = new InMemoryAssignmentSink();
        var service = Objects.Service();
        var first = Objects.Task(service, 1, worker.NodeId, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(first);
        }, Ct);
        await using var agent = new RunningAgent(harness.Agent(worker, sink));
        await Eventually.TrueAsync(() => sink.Tasks.ContainsKey(first.Id), "the complete set with the first task");

        var second = Objects.Task(service, 2, worker.NodeId, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(second);
            tx.Delete<SwarmTask>(first.Id);
        }, Ct);
        await Eventually.TrueAsync(() => sink.Tasks.Keys.SequenceEqual([second.Id]), "an increment adding the second task and removing the first");

        await agent.Session.ReportStatusAsync(
        [
            new TaskStatusUpdate { TaskId = second.Id, Status = new SwarmTaskStatus { State = TaskState.Accepted, Timestamp = Timestamp.FromDateTime(DateTime.UtcNow) } },
            new TaskStatusUpdate { TaskId = second.Id, Status = new SwarmTaskStatus { State = TaskState.Running, Timestamp = Timestamp.FromDateTime(DateTime.UtcNow) } },
        ], Ct);

        var stored = harness.Store.View().Tasks.Get(second.Id)!;
        Assert.Equal(TaskState.Running, stored.Status.State);
        Assert.Equal(worker.NodeId, stored.Status.AppliedBy);
    }

    [Fact]
    public async Task StatusesReportedWhileNoManagerServes_AreDeliveredOnceOneDoes()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        var service = Objects.Service();
        var task = Objects.Task(service, 1, worker.NodeId, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(task);
        }, Ct);
        await using var agent = new RunningAgent(harness.Agent(worker));
        await Eventually.TrueAsync(() => agent.Session.IsConnected, "the agent connected");

        await harness.Managers[0].StopAsync();
        var report = agent.Session.ReportStatusAsync([new TaskStatusUpdate { TaskId = task.Id, Status = new SwarmTaskStatus { State = TaskState.Running } }], Ct);
        await Task.Delay(harness.Period, Ct);
        Assert.False(report.IsCompleted, "a report was accepted while no dispatcher ran");
        harness.Managers[0].Start();

        await report.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.Equal(TaskState.Running, harness.Store.View().Tasks.Get(task.Id)!.Status.State);
    }
}
