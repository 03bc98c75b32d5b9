using Google.Protobuf.WellKnownTypes;
using Shoal.Api;
using Shoal.Manager.Orchestrator.Update;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Manager.Tests.Orchestrator.Update;

/// <summary>
/// The orchestration loops (with the update supervisor) on a Raft-less store and fake time, plus <see cref="FakeAgents"/>
/// standing in for the scheduler and the agents, and helpers to change a service as the control API does and to drive
/// fake time through an update.
/// </summary>
internal sealed class UpdateHarness : IAsyncDisposable
{
    private UpdateHarness(OrchestratorHarness inner, FakeAgents agents)
    {
        Inner = inner;
        Agents = agents;
    }

    public OrchestratorHarness Inner { get; }

    public FakeAgents Agents { get; }

    public MemoryStore Store => Inner.Store;

    /// <summary>Starts the loops on <paramref name="nodes"/> and <paramref name="service"/> and waits until the
    /// service's tasks all run (with the number it should have).</summary>
    public static async Task<UpdateHarness> StartAsync(Service service, int running, params Node[] nodes)
    {
        var inner = await OrchestratorHarness.StartAsync([.. nodes, service]);
        await WaitLoopsAsync(inner);
        var agents = new FakeAgents(inner.Store, inner.Time, [.. nodes.Select(n => n.Id)]);
        var harness = new UpdateHarness(inner, agents);
        await harness.WaitAsync(() => harness.Running(service.Id).Count == running, $"{running} tasks of {service.Spec.Annotations.Name} running");
        return harness;
    }

    /// <summary>The harness waits for five loops; the update supervisor is the sixth.</summary>
    private static Task WaitLoopsAsync(OrchestratorHarness inner) =>
        Eventually.TrueAsync(() => inner.Store.WatcherCount >= 6, "the six orchestration loops watching the store");

    /// <summary>A new leader: the loops stop and fresh ones start from the store.</summary>
    public async Task ChangeLeaderAsync()
    {
        await Inner.StopLoopsAsync();
        var watchers = Store.WatcherCount;
        await Inner.StartLoopsAsync();
        await Eventually.TrueAsync(() => Store.WatcherCount >= watchers + 6, "the six orchestration loops of the new leader watching the store");
    }

    public Service Service(string id) => Store.View().Services.Get(id)!;

    public UpdateStatus? Status(string id) => Service(id).UpdateStatus;

    public List<SwarmTask> TasksOf(string serviceId) => Inner.TasksOf(serviceId);

    /// <summary>Tasks meant to run and RUNNING.</summary>
    public List<SwarmTask> Running(string serviceId) =>
        [.. TasksOf(serviceId).Where(t => t.DesiredState <= TaskState.Running && t.Status.State == TaskState.Running)];

    public Task WaitAsync(Func<bool> condition, string expectation) => Eventually.TrueAsync(condition, expectation);

    public Task WaitStatusAsync(string serviceId, UpdateState state) => WaitAsync(
        () => Status(serviceId)?.State == state,
        $"update status {state} (it is {Status(serviceId)?.State.ToString() ?? "none"}: {Status(serviceId)?.Message})");

    /// <summary>Changes the spec as the control API's update does: previous spec kept, version above both, status
    /// cleared.</summary>
    /// <remarks>Fake time moves 1 s first: an operator's update never comes in the instant the tasks it replaces
    /// were created (the orchestrators tell a slot's newest task by its creation time).</remarks>
    public ValueTask UpdateSpecAsync(string serviceId, Action<ServiceSpec> change)
    {
        Inner.Time.Advance(TimeSpan.FromSeconds(1));
        return Store.UpdateAsync(tx =>
        {
            var stored = tx.Services.Get(serviceId)!;
            var copy = stored.Clone();
            copy.PreviousSpec = stored.Spec.Clone();
            copy.PreviousSpecVersion = stored.SpecVersion;
            change(copy.Spec);
            copy.SpecVersion = Math.Max(stored.SpecVersion, stored.PreviousSpecVersion) + 1;
            copy.UpdateStatus = null;
            tx.Update(copy);
        });
    }

    /// <summary>The control API's rollback: spec and previous spec swapped, ROLLBACK_STARTED.</summary>
    public ValueTask RollBackAsync(string serviceId)
    {
        Inner.Time.Advance(TimeSpan.FromSeconds(1));
        return Store.UpdateAsync(tx =>
        {
            var stored = tx.Services.Get(serviceId)!;
            tx.Update(ServiceRollback.Swapped(stored, "manually requested rollback", Timestamp.FromDateTimeOffset(Inner.Time.GetUtcNow())));
        });
    }

    /// <summary>
    /// Waits for <paramref name="done"/>, moving fake time to the update supervisor's timer whenever one is armed (the
    /// end of a delay between batches or of a monitor window): the update runs as fast as its config allows.
    /// </summary>
    public Task DriveUntilAsync(Func<bool> done, string expectation) => Eventually.TrueAsync(() =>
    {
        if (done())
        {
            return true;
        }

        var armed = Inner.Loops.Updates.ArmedUntil;
        var now = Inner.Time.GetUtcNow();
        if (armed > now.UtcTicks)
        {
            Inner.Time.Advance(new DateTimeOffset(armed, TimeSpan.Zero) - now);
        }

        return false;
    }, expectation, TimeSpan.FromSeconds(30));

    public Task DriveToStatusAsync(string serviceId, UpdateState state) => DriveUntilAsync(
        () => Status(serviceId)?.State == state,
        $"update status {state} (it is {Status(serviceId)?.State.ToString() ?? "none"}: {Status(serviceId)?.Message})");

    public async ValueTask DisposeAsync()
    {
        await Agents.DisposeAsync();
        await Inner.DisposeAsync();
    }

    public static Service Replicated(string name, long replicas, UpdateConfig? update = null, string image = "app:1")
    {
        var service = OrchestratorHarness.Replicated(name, replicas, spec => spec.Container.Image = image);
        service.Spec.Update = update;
        return service;
    }

    public static UpdateConfig Config(
        long parallelism = 1,
        TimeSpan? delay = null,
        TimeSpan? monitor = null,
        FailureAction action = FailureAction.Pause,
        float ratio = 0,
        UpdateOrder order = UpdateOrder.StopFirst) => new()
        {
            Parallelism = parallelism,
            Delay = Duration.FromTimeSpan(delay ?? TimeSpan.Zero),
            Monitor = Duration.FromTimeSpan(monitor ?? TimeSpan.FromSeconds(1)),
            FailureAction = action,
            MaxFailureRatio = ratio,
            Order = order,
        };
}
