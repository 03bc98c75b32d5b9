using FsCheck.Xunit;
using Shoal.Api;
using Shoal.Store;
using Shoal.TestKit;

namespace Shoal.Store.Tests;

/// <summary>
/// Random operation sequences (generated and shrunk by FsCheck) against a plain reference model: every read of the
/// store must equal the model's, and snapshots and watch streams must reproduce the state exactly.
/// </summary>
public class StorePropertyTests
{
    private static readonly string[] Names = ["web", "WEB", "api", "db", "cache", "Api"];
    private static readonly string[] NodeIds = ["node-a", "node-b", "node-c", ""];
    private static readonly TaskState[] States = [TaskState.New, TaskState.Pending, TaskState.Running, TaskState.Failed, TaskState.Shutdown];

    [Property(MaxTest = 150)]
    public void RandomOperations_ReadTheSameAsAReferenceModel((int Op, int A, int B)[] ops)
    {
        using var store = new MemoryStore();
        var model = new Model();
        ulong expectedVersion = 0;

        foreach (var (op, a, b) in ops)
        {
            var committed = Run(store, model, op, a, b);
            if (committed)
            {
                expectedVersion++;
            }

            Assert.Equal(expectedVersion, store.Version);
            model.AssertMatches(store.View());
        }
    }

    [Property(MaxTest = 60)]
    public void SaveThenRestore_RoundTripsExactly((int Op, int A, int B)[] ops)
    {
        using var store = new MemoryStore();
        var model = new Model();
        foreach (var (op, a, b) in ops)
        {
            Run(store, model, op, a, b);
        }

        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(store.Save());
        using var restored = new MemoryStore();
        restored.Restore(StoreSnapshot.Parser.ParseFrom(bytes));

        Assert.Equal(store.Save(), restored.Save());
        model.AssertMatches(restored.View());
    }

    [Property(MaxTest = 60)]
    public void AWatchersEvents_ReplayedOntoItsStartView_GiveTheEndState((int Op, int A, int B)[] before, (int Op, int A, int B)[] after)
    {
        using var store = new MemoryStore();
        var model = new Model();
        foreach (var (op, a, b) in before)
        {
            Run(store, model, op, a, b);
        }

        var (start, watcher) = store.ViewAndWatch(new WatchOptions { Capacity = 1_000_000, IncludeCommits = true });
        foreach (var (op, a, b) in after)
        {
            Run(store, model, op, a, b);
        }

        var replay = MemoryStore.Save(start).Clone();
        var services = replay.Services.ToDictionary(s => s.Id);
        var tasks = replay.Tasks.ToDictionary(t => t.Id);
        ulong version = start.Version;
        while (watcher.TryRead(out var e))
        {
            Assert.True(e.Version >= version, "events must arrive in commit order");
            version = e.Version;
            switch (e.Kind, e.Target)
            {
                case (StoreEventKind.Delete, Service s):
                    Assert.True(services.Remove(s.Id), $"delete of unknown service {s.Id}");
                    break;
                case (StoreEventKind.Delete, SwarmTask t):
                    Assert.True(tasks.Remove(t.Id), $"delete of unknown task {t.Id}");
                    break;
                case (StoreEventKind.Update, Service s):
                    Assert.Equal(services[s.Id], (Service)e.Old!);
                    services[s.Id] = s;
                    break;
                case (StoreEventKind.Update, SwarmTask t):
                    Assert.Equal(tasks[t.Id], (SwarmTask)e.Old!);
                    tasks[t.Id] = t;
                    break;
                case (StoreEventKind.Create, Service s):
                    services.Add(s.Id, s);
                    break;
                case (StoreEventKind.Create, SwarmTask t):
                    tasks.Add(t.Id, t);
                    break;
            }
        }

        Assert.Equal(store.Version, version);
        var end = store.View();
        Assert.Equal(end.Services.All().ToList(), services.Values.OrderBy(s => s.Id, StringComparer.Ordinal).ToList());
        Assert.Equal(end.Tasks.All().ToList(), tasks.Values.OrderBy(t => t.Id, StringComparer.Ordinal).ToList());
    }

    [Fact]
    public async Task ConcurrentReaders_NeverSeeHalfATransaction()
    {
        // Invariant kept by every transaction: the replicas of the two services add up to 100.
        using var store = new MemoryStore();
        var left = Objects.Service("left", replicas: 100);
        var right = Objects.Service("right", replicas: 0);
        await store.UpdateAsync(tx =>
        {
            tx.Create(left);
            tx.Create(right);
        });

        var writes = 0;
        var done = false;
        var writer = Task.Run(async () =>
        {
            var random = new Random(7);
            for (var i = 0; i < 3000; i++)
            {
                await store.UpdateAsync(tx =>
                {
                    var l = tx.Services.Get(left.Id)!.Clone();
                    var r = tx.Services.Get(right.Id)!.Clone();
                    var move = random.Next(-5, 6);
                    l.Spec.Replicated.Replicas -= move;
                    tx.Update(l);
                    r.Spec.Replicated.Replicas += move;
                    tx.Update(r);
                });
                writes++;
            }

            Volatile.Write(ref done, true);
        });

        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            var checks = 0;
            while (!Volatile.Read(ref done))
            {
                var view = store.View();
                var sum = view.Services.Get(left.Id)!.Spec.Replicated.Replicas + view.Services.Get(right.Id)!.Spec.Replicated.Replicas;
                Assert.True(sum == 100, $"a reader saw {sum} replicas in all at version {view.Version}: half a transaction");
                checks++;
            }

            return checks;
        })).ToArray();

        await writer;
        var checks = await Task.WhenAll(readers);
        Assert.Equal(3000, writes);
        Assert.All(checks, c => Assert.True(c > 0, "a reader never ran"));
    }

    /// <summary>Runs one generated operation on the store and the model; true when a transaction committed.</summary>
    private static bool Run(MemoryStore store, Model model, int op, int a, int b)
    {
        var services = model.Services.Keys.Order(StringComparer.Ordinal).ToList();
        var tasks = model.Tasks.Keys.Order(StringComparer.Ordinal).ToList();
        switch (Math.Abs(op % 8))
        {
            case 0:
            {
                var service = Objects.Service(Names[Math.Abs(a % Names.Length)], replicas: Math.Abs(b % 10));
                var conflict = model.Services.Values.Any(s => string.Equals(s.Spec.Annotations.Name, service.Spec.Annotations.Name, StringComparison.OrdinalIgnoreCase));
                return Expect(conflict ? typeof(NameConflictException) : null, () => store.UpdateAsync(tx => tx.Create(service)), () => model.Services[service.Id] = service);
            }

            case 1 when services.Count > 0:
            {
                var id = services[Math.Abs(a % services.Count)];
                var copy = store.View().Services.Get(id)!.Clone();
                var stale = b % 5 == 0;
                if (stale)
                {
                    copy.Meta.Version -= 1;
                }

                copy.Spec.Replicated.Replicas = Math.Abs(b % 10);
                copy.Spec.Annotations.Name = Names[Math.Abs(b % Names.Length)];
                var conflict = model.Services.Values.Any(s => s.Id != id && string.Equals(s.Spec.Annotations.Name, copy.Spec.Annotations.Name, StringComparison.OrdinalIgnoreCase));
                var expected = stale ? typeof(UpdateOutOfSequenceException) : conflict ? typeof(NameConflictException) : null;
                return Expect(expected, () => store.UpdateAsync(tx => tx.Update(copy)), () => model.Services[id] = copy);
            }

            case 2 when services.Count > 0:
            {
                var id = services[Math.Abs(a % services.Count)];
                return Expect(null, () => store.UpdateAsync(tx => tx.Delete<Service>(id)), () => model.Services.Remove(id));
            }

            case 3 when services.Count > 0:
            {
                var service = model.Services[services[Math.Abs(a % services.Count)]];
                var task = Objects.Task(service, slot: Math.Abs(b % 3) + 1, nodeId: NodeIds[Math.Abs(b % NodeIds.Length)], state: States[Math.Abs(a % States.Length)]);
                return Expect(null, () => store.UpdateAsync(tx => tx.Create(task)), () => model.Tasks[task.Id] = task);
            }

            case 4 when tasks.Count > 0:
            {
                var id = tasks[Math.Abs(a % tasks.Count)];
                var copy = store.View().Tasks.Get(id)!.Clone();
                copy.Status.State = States[Math.Abs(b % States.Length)];
                copy.NodeId = NodeIds[Math.Abs((a + b) % NodeIds.Length)];
                copy.DesiredState = b % 2 == 0 ? TaskState.Running : TaskState.Shutdown;
                return Expect(null, () => store.UpdateAsync(tx => tx.Update(copy)), () => model.Tasks[id] = copy);
            }

            case 5 when tasks.Count > 0:
            {
                var id = tasks[Math.Abs(a % tasks.Count)];
                return Expect(null, () => store.UpdateAsync(tx => tx.Delete<SwarmTask>(id)), () => model.Tasks.Remove(id));
            }

            case 6:
            {
                // A transaction that writes, then fails: nothing of it may remain.
                return Expect(typeof(InvalidOperationException), () => store.UpdateAsync(tx =>
                {
                    tx.Create(Objects.Service($"doomed-{a}"));
                    foreach (var id in tasks.Take(2))
                    {
                        tx.Delete<SwarmTask>(id);
                    }

                    throw new InvalidOperationException("abort");
                }), () => { });
            }

            case 7 when tasks.Count > 0:
            {
                // Several task updates in one transaction.
                var chosen = tasks.Where((_, i) => (i + a) % 3 == 0).ToList();
                var copies = chosen.Select(id => store.View().Tasks.Get(id)!.Clone()).ToList();
                foreach (var copy in copies)
                {
                    copy.Status.State = States[Math.Abs(b % States.Length)];
                }

                return Expect(null, () => store.UpdateAsync(tx => copies.ForEach(tx.Update)), () => copies.ForEach(c => model.Tasks[c.Id] = c)) && copies.Count > 0;
            }

            default:
                return false;
        }
    }

    private static bool Expect(Type? error, Func<ValueTask> write, Action onSuccess)
    {
        try
        {
            write().AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (error is not null && e.GetType() == error)
        {
            return false;
        }

        Assert.True(error is null, $"expected {error?.Name}, but the write succeeded");
        onSuccess();
        return true;
    }

    private sealed class Model
    {
        public Dictionary<string, Service> Services { get; } = [];

        public Dictionary<string, SwarmTask> Tasks { get; } = [];

        public void AssertMatches(ReadTransaction view)
        {
            Assert.Equal(Services.Count, view.Services.Count);
            Assert.Equal(Tasks.Count, view.Tasks.Count);
            foreach (var (id, expected) in Services)
            {
                var actual = view.Services.Get(id);
                Assert.NotNull(actual);
                Assert.Equal(expected.Spec, actual.Spec);
                Assert.Contains(view.Services.ByName(expected.Spec.Annotations.Name.ToUpperInvariant()), s => s.Id == id);
                Assert.Equal(Ids(Tasks.Values.Where(t => t.ServiceId == id)), Ids(view.Tasks.ByService(id)));
            }

            foreach (var (id, expected) in Tasks)
            {
                var actual = view.Tasks.Get(id);
                Assert.NotNull(actual);
                Assert.Equal(expected.Status, actual.Status);
                Assert.Equal(expected.NodeId, actual.NodeId);
                Assert.Equal(expected.DesiredState, actual.DesiredState);
            }

            foreach (var node in NodeIds.Where(n => n.Length > 0))
            {
                Assert.Equal(Ids(Tasks.Values.Where(t => t.NodeId == node)), Ids(view.Tasks.ByNode(node)));
            }

            foreach (var state in States)
            {
                Assert.Equal(Ids(Tasks.Values.Where(t => t.Status.State == state)), Ids(view.Tasks.ByState(state)));
            }

            foreach (var desired in new[] { TaskState.Running, TaskState.Shutdown })
            {
                Assert.Equal(Ids(Tasks.Values.Where(t => t.DesiredState == desired)), Ids(view.Tasks.ByDesiredState(desired)));
            }

            foreach (var service in Services.Keys)
            {
                for (var slot = 1; slot <= 3; slot++)
                {
                    Assert.Equal(Ids(Tasks.Values.Where(t => t.ServiceId == service && t.Slot == slot)), Ids(view.Tasks.BySlot(service, slot)));
                }
            }
        }

        private static List<string> Ids(IEnumerable<IStoreObject> objects) => objects.Select(o => o.Id).Order(StringComparer.Ordinal).ToList();

        private static List<string> Ids<T>(ObjectSet<T> set)
            where T : class, IStoreObject => set.Select(o => o.Id).ToList();
    }
}
