using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Shoal.Api;
using Shoal.Store;

namespace Shoal.Benchmarks;

/// <summary>The whole 110,000-object store to bytes and back (a Raft snapshot). No SwarmKit benchmark measures this.</summary>
[Config(typeof(StoreBenchConfig))]
[WarmupCount(1)]
[IterationCount(5)]
public class SnapshotBenchmarks
{
    private StoreFixture _fixture = null!;
    private byte[] _bytes = [];

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _fixture = await StoreFixture.SharedAsync();
        _bytes = _fixture.Store.Save().ToByteArray();
    }

    /// <summary><c>Save</c> plus <c>ToByteArray</c>: the snapshot message shares the store's objects, so the cost is
    /// collecting 110,000 references in id order and serializing them.</summary>
    [Benchmark]
    public int SaveSnapshot() => _fixture.Store.Save().ToByteArray().Length;

    /// <summary><c>ParseFrom</c> of those bytes plus <c>Restore</c> into a fresh store (tables and indexes rebuilt).</summary>
    [Benchmark]
    public int RestoreSnapshot()
    {
        using var store = new MemoryStore();
        store.Restore(StoreSnapshot.Parser.ParseFrom(_bytes));
        return store.View().Tasks.Count;
    }
}
