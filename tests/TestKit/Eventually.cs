namespace Shoal.TestKit;

/// <summary>Condition-based waits with a deadline and a message that says what was expected.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string expectation, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {(timeout ?? TimeSpan.FromSeconds(10)).TotalSeconds:0.#} s waiting for: {expectation}");
            }

            await Task.Delay(5, cancellationToken);
        }
    }
}
