using BenchmarkDotNet.Attributes;

namespace Shoal.Benchmarks;

/// <summary>
/// <c>UpdateNodeTransaction</c> on node-only stores of 1,000, 10,000 and 100,000 nodes: with immutable tables a
/// commit copies only the path to the change, so time and allocations should grow with log(size), not size.
/// </summary>
[Config(typeof(StoreBenchConfig))]
public class UpdateScalingBenchmarks
{
    private StoreFixture _fixture = null!;
    private int _next;

    [Params(1_000, 10_000, 100_000)]
    public int Nodes { get; set; }

    [GlobalSetup]
    public async Task SetupAsync() => _fixture = await StoreFixture.BuildAsync(Nodes, services: 0, tasks: 0);

    [GlobalCleanup]
    public void Cleanup() => _fixture.Store.Dispose();

    /// <summary>Same op as <see cref="StoreWriteBenchmarks.UpdateNodeTransaction"/>.</summary>
    [Benchmark]
    public async Task UpdateNodeTransaction()
    {
        var i = _next++;
        var id = _fixture.NodeIds[i % _fixture.NodeIds.Length];
        await _fixture.Store.UpdateAsync(tx => tx.Update(StoreWriteBenchmarks.Renamed(tx.Nodes.Get(id)!, i)));
    }
}
