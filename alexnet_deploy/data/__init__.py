"""Images on disk: preprocessing, image folders, the built-in dataset, augmentation."""
