using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Dispatching;

/// <summary>The Assignments stream and UpdateTaskStatus, driven by raw gRPC calls of a registered worker.</summary>
public sealed class AssignmentsAndStatusTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Assignments_StartWithTheCompleteSet_ThenSendBatchedIncrements()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        await using var node = await RegisteredNode.OpenAsync(harness, worker);
        var service = Objects.Service();
        var assigned = Objects.Task(service, 1, worker.NodeId, TaskState.Assigned);
        var pending = Objects.Task(service, 2, worker.NodeId, TaskState.Pending);
        var elsewhere = Objects.Task(service, 3, Objects.Node().Id, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tx.Create(assigned);
            tx.Create(pending);
            tx.Create(elsewhere);
        }, Ct);

        using var stream = node.Client.Assignments(new AssignmentsRequest { SessionId = node.SessionId }, cancellationToken: Ct);
        var complete = await NextAsync(stream);
        Assert.Equal(AssignmentsType.AssignmentsComplete, complete.Type);
        Assert.Equal([assigned.Id], complete.Changes.Select(c => c.Assignment.Task.Id));

        // 150 new tasks in one transaction: increments of at most 100 changes, each naming the set before it.
        var many = Enumerable.Range(10, 150).Select(i => Objects.Task(service, i, worker.NodeId, TaskState.Assigned)).ToList();
        await harness.Store.UpdateAsync(tx => many.ForEach(tx.Create), Ct);
        var received = new List<AssignmentsMessage>();
        while (received.Sum(m => m.Changes.Count) < many.Count)
        {
            received.Add(await NextAsync(stream));
        }

        Assert.Equal(2, received.Count);
        Assert.All(received, m => Assert.True(m.Type == AssignmentsType.AssignmentsIncremental && m.Changes.Count <= 100, m.ToString()));
        Assert.Equal(complete.ResultsIn, received[0].AppliesTo);
        Assert.Equal(received[0].ResultsIn, received[1].AppliesTo);
        Assert.Equal(many.Select(t => t.Id).Order(), received.SelectMany(m => m.Changes).Select(c => c.Assignment.Task.Id).Order());

        // The agent's own report is not echoed back; a manager's change (desired state) is; a deletion removes.
        await harness.Store.UpdateAsync(tx =>
        {
            var reported = tx.Tasks.Get(assigned.Id)!.Clone();
            reported.Status = new SwarmTaskStatus { State = TaskState.Running };
            tx.Update(reported);
        }, Ct);
        await harness.Store.UpdateAsync(tx =>
        {
            var stopped = tx.Tasks.Get(many[0].Id)!.Clone();
            stopped.DesiredState = TaskState.Shutdown;
            tx.Update(stopped);
            tx.Delete<SwarmTask>(many[1].Id);
            var now = tx.Tasks.Get(pending.Id)!.Clone();
            now.Status = new SwarmTaskStatus { State = TaskState.Assigned };
            tx.Update(now);
        }, Ct);
        var increment = await NextAsync(stream);

        Assert.Equal(received[1].ResultsIn, increment.AppliesTo);
        var changes = increment.Changes.ToDictionary(c => c.Assignment.Task.Id, c => c.Action);
        Assert.Equal(
            new Dictionary<string, AssignmentAction>
            {
                [many[0].Id] = AssignmentAction.Update,
                [many[1].Id] = AssignmentAction.Remove,
                [pending.Id] = AssignmentAction.Update,
            },
            changes);
    }

    [Fact]
    public async Task TaskStatus_IsWrittenInBatches_NeverMovesBackwards_AndOnlyForTheNodesOwnTasks()
    {
        await using var harness = await DispatcherHarness.StartAsync();
        var worker = harness.Issue();
        await using var node = await RegisteredNode.OpenAsync(harness, worker);
        var service = Objects.Service();
        var tasks = Enumerable.Range(1, 200).Select(i => Objects.Task(service, i, worker.NodeId, TaskState.Assigned)).ToList();
        var foreign = Objects.Task(service, 999, Objects.Node().Id, TaskState.Assigned);
        await harness.Store.UpdateAsync(tx =>
        {
            tx.Create(service);
            tasks.ForEach(tx.Create);
            tx.Create(foreign);
        }, Ct);
        var before = harness.Store.Version;

        // 20 concurrent calls of 10 updates each.
        await Task.WhenAll(tasks.Chunk(10).Select(chunk => node.ReportAsync(chunk.Select(t => (t.Id, TaskState.Running)))));

        var writes = harness.Store.Version - before;
        Assert.All(tasks, t => Assert.Equal(TaskState.Running, harness.Store.View().Tasks.Get(t.Id)!.Status.State));
        Assert.True(writes <= 4, $"200 status updates in 20 calls took {writes} store transactions; expected them batched");
        var applied = harness.Store.View().Tasks.Get(tasks[0].Id)!.Status;
        Assert.Equal(worker.NodeId, applied.AppliedBy);
        TestContext.Current.TestOutputHelper?.WriteLine($"200 status updates in 20 concurrent calls: {writes} store transactions");

        await node.ReportAsync([(tasks[0].Id, TaskState.Starting), (tasks[1].Id, TaskState.Complete)]);
        Assert.Equal(TaskState.Running, harness.Store.View().Tasks.Get(tasks[0].Id)!.Status.State);
        Assert.Equal(TaskState.Complete, harness.Store.View().Tasks.Get(tasks[1].Id)!.Status.State);

        var denied = await Assert.ThrowsAsync<RpcException>(() => node.ReportAsync([(foreign.Id, TaskState.Running)]));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
        Assert.Equal(TaskState.Assigned, harness.Store.View().Tasks.Get(foreign.Id)!.Status.State);
    }

    private static async Task<AssignmentsMessage> NextAsync(AsyncServerStreamingCall<AssignmentsMessage> stream)
    {
        Assert.True(await stream.ResponseStream.MoveNext(Ct), "the assignments stream ended");
        return stream.ResponseStream.Current;
    }

    /// <summary>A worker with an open session, made with raw gRPC calls.</summary>
    private sealed class RegisteredNode : IAsyncDisposable
    {
        private readonly Grpc.Net.Client.GrpcChannel _channel;
        private readonly AsyncServerStreamingCall<SessionMessage> _session;

        private RegisteredNode(Grpc.Net.Client.GrpcChannel channel, AsyncServerStreamingCall<SessionMessage> session)
        {
            _channel = channel;
            _session = session;
            Client = new Shoal.Api.Dispatcher.DispatcherClient(channel);
        }

        public Shoal.Api.Dispatcher.DispatcherClient Client { get; }

        public string SessionId => _session.ResponseStream.Current.SessionId;

        public static async Task<RegisteredNode> OpenAsync(DispatcherHarness harness, Shoal.Ca.Certificates.NodeCredentials credentials)
        {
            var channel = harness.Channel(credentials);
            var session = harness.Client(channel).Session(new SessionRequest(), cancellationToken: Ct);
            Assert.True(await session.ResponseStream.MoveNext(Ct));
            return new RegisteredNode(channel, session);
        }

        public async Task ReportAsync(IEnumerable<(string TaskId, TaskState State)> updates)
        {
            var request = new UpdateTaskStatusRequest { SessionId = SessionId };
            request.Updates.AddRange(updates.Select(u => new TaskStatusUpdate
            {
                TaskId = u.TaskId,
                Status = new SwarmTaskStatus { State = u.State, Message = u.State.ToString(), Timestamp = Timestamp.FromDateTime(DateTime.UtcNow) },
            }));
            await Client.UpdateTaskStatusAsync(request, cancellationToken: Ct);
        }

        public ValueTask DisposeAsync()
        {
            _session.Dispose();
            _channel.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
